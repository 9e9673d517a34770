package ociimage

import (
	"archive/tar"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// dockerfileStage is what the final stage of a Dockerfile sets, in the
// image config's terms.
type dockerfileStage struct {
	User         string
	Entrypoint   []string
	Cmd          []string
	ExposedPorts []string
	Labels       map[string]string
}

// parseFinalStage reads the instructions this package mirrors from the last
// stage of a Dockerfile. It understands what the repository's Dockerfile
// uses: line continuations, exec-form ENTRYPOINT/CMD and key="value" labels.
func parseFinalStage(t *testing.T, text string) dockerfileStage {
	t.Helper()
	text = strings.ReplaceAll(text, "\\\n", " ")
	var st dockerfileStage
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			st = dockerfileStage{Labels: map[string]string{}}
		case "USER":
			st.User = rest
		case "EXPOSE":
			for p := range strings.FieldsSeq(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				st.ExposedPorts = append(st.ExposedPorts, p)
			}
		case "ENTRYPOINT", "CMD":
			var v []string
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Fatalf("Dockerfile %s is not in exec form (a JSON array): %q", instr, rest)
			}
			if strings.ToUpper(instr) == "CMD" {
				st.Cmd = v
			} else {
				st.Entrypoint = v
			}
		case "LABEL":
			for _, m := range regexp.MustCompile(`([\w.\-]+)="([^"]*)"`).FindAllStringSubmatch(rest, -1) {
				st.Labels[m[1]] = m[2]
			}
		}
	}
	return st
}

func TestTheImageAgreesWithTheDockerfile(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	want := parseFinalStage(t, string(text))
	img, err := Build([]byte("#!binary"), Flinkgate)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	got := cf.Config
	ports := slices.Sorted(maps.Keys(got.ExposedPorts))

	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"user", got.User, want.User},
		{"entrypoint", got.Entrypoint, want.Entrypoint},
		{"cmd", got.Cmd, want.Cmd},
		{"exposed ports", ports, slices.Sorted(slices.Values(want.ExposedPorts))},
		{"labels", got.Labels, want.Labels},
	} {
		t.Run("the image's "+c.name+" equal the Dockerfile's", func(t *testing.T) {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("image %s = %#v, Dockerfile says %#v", c.name, c.got, c.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	binary := []byte("\x7fELF pretend")
	tests := []struct {
		name  string
		check func(t *testing.T, img v1.Image)
	}{
		{"the binary is in the layer at the spec's path, executable and owned by root", func(t *testing.T, img v1.Image) {
			files := layerFiles(t, img)
			h, ok := files["flinkgate"]
			if !ok {
				t.Fatalf("no flinkgate in the layer; files: %v", slices.Sorted(maps.Keys(files)))
			}
			if h.Mode != 0o755 || h.Uid != 0 || h.Size != int64(len(binary)) {
				t.Errorf("flinkgate: mode %o uid %d size %d; want 755, 0, %d", h.Mode, h.Uid, h.Size, len(binary))
			}
		}},
		{"the image names the non-root user in /etc/passwd, as the distroless base does", func(t *testing.T, img v1.Image) {
			if _, ok := layerFiles(t, img)["etc/passwd"]; !ok {
				t.Fatal("no etc/passwd in the layer")
			}
		}},
		{"the config is for linux and dated at the epoch, so one binary always gives one digest", func(t *testing.T, img v1.Image) {
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Created.Unix() != 0 {
				t.Errorf("os %q created %v; want linux at the epoch", cf.OS, cf.Created)
			}
			again, err := Build(binary, Flinkgate)
			if err != nil {
				t.Fatal(err)
			}
			d1, _ := img.Digest()
			d2, _ := again.Digest()
			if d1 != d2 {
				t.Errorf("two builds of one binary differ: %s and %s", d1, d2)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Build(binary, Flinkgate)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, img)
		})
	}
}

func TestWriteOCIWritesALayoutThatNamesTheImage(t *testing.T) {
	img, err := Build([]byte("pause"), Pause)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pause.tar")
	if err := WriteOCI(file, "flinkgate.local/pause:e2e", img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		entries[h.Name] = b
	}
	var index v1.IndexManifest
	if err := json.Unmarshal(entries["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(index.Manifests))
	}
	m := index.Manifests[0]
	if got := m.Annotations["io.containerd.image.name"]; got != "flinkgate.local/pause:e2e" {
		t.Errorf("io.containerd.image.name = %q, want flinkgate.local/pause:e2e", got)
	}
	if _, ok := entries["blobs/sha256/"+m.Digest.Hex]; !ok {
		t.Errorf("the manifest blob %s is missing; entries: %v", m.Digest, slices.Sorted(maps.Keys(entries)))
	}
	if _, ok := entries["oci-layout"]; !ok {
		t.Error("oci-layout is missing")
	}
}

func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v (%d), want one", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
}
