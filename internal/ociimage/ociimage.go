// Package ociimage builds a container image of one static binary as an OCI
// image layout tarball, without Docker: flinkgate's image (`make image-oci`,
// agreeing with the Dockerfile) and the e2e node's pause image.
package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is what an image holds: one static binary and the runtime settings a
// Dockerfile's final stage would give it.
type Spec struct {
	// Path is where the binary goes in the image, e.g. /flinkgate.
	Path       string
	User       string
	Entrypoint []string
	Cmd        []string
	// ExposedPorts as in a Dockerfile's EXPOSE, e.g. "8443/tcp".
	ExposedPorts []string
	Labels       map[string]string
}

// Flinkgate is flinkgate's image; it must agree with the final stage of the
// repository's Dockerfile (ociimage_test.go checks), so the image built without
// Docker runs exactly like the one built with it.
var Flinkgate = Spec{
	Path:         "/flinkgate",
	User:         "65532:65532",
	Entrypoint:   []string{"/flinkgate"},
	Cmd:          []string{"serve"},
	ExposedPorts: []string{"8443/tcp", "8080/tcp"},
	Labels: map[string]string{
		"org.opencontainers.image.title":       "flinkgate",
		"org.opencontainers.image.description": "Ververica-Platform-style DeploymentTargets for Flink on Kubernetes: an admission webhook",
	},
}

// Pause is the sandbox image of the e2e node: containerd's sandbox_image,
// which holds each pod's namespaces open. There is no registry to pull the
// usual one from.
var Pause = Spec{
	Path:       "/pause",
	User:       "65535:65535",
	Entrypoint: []string{"/pause"},
}

// users are the /etc/passwd and /etc/group entries the image carries, as the
// distroless base of the Dockerfile does, so tools that map the uid to a name
// (ps, crictl) show one.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// epoch is every timestamp in the image, so that one binary always gives the
// same digest.
var epoch = time.Unix(0, 0).UTC()

// Build makes a single-layer image from the binary, for linux on this
// machine's architecture (the binary is built for it).
func Build(binary []byte, s Spec) (v1.Image, error) {
	layerTar, err := layerTar(binary, s.Path)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		User:       s.User,
		Entrypoint: s.Entrypoint,
		Cmd:        s.Cmd,
		Labels:     s.Labels,
		// The distroless base sets this too; with no shell it matters little.
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
	if len(s.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range s.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// layerTar is the root filesystem: the binary, /etc/passwd and /etc/group,
// and an empty /tmp, all owned by root.
func layerTar(binary []byte, binPath string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{"etc/": true, "tmp/": true}
	for d := path.Dir(strings.TrimPrefix(binPath, "/")); d != "." && d != "/"; d = path.Dir(d) {
		dirs[d+"/"] = true
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{strings.TrimPrefix(binPath, "/"), 0o755, binary},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("write layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write layer: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteOCI writes img as an OCI image layout in a tar file, named ref (a
// full reference such as flinkgate.local/flinkgate:dev) by both annotations
// `ctr images import` understands.
func WriteOCI(file, ref string, img v1.Image) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest manifest: %w", err)
	}
	configName, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("digest config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("read layers: %w", err)
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    digest,
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{blob(digest), manifest},
		{blob(configName), config},
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("digest layer: %w", err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		entries = append(entries, struct {
			name string
			data []byte
		}{blob(d), data})
	}
	for _, e := range entries {
		if err := add(e.name, e.data); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	// Written whole, then renamed, so a reader never sees half an image.
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}
