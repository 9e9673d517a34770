// Package check runs manifests through flinkgate's admission offline, the
// way `kubectl apply --dry-run=server` would with flinkgate installed: it
// reads ConfigMap manifests or bare resource documents, sends each through
// webhook.Server.DryRun (the mutating webhook, its patch, the validating
// webhook) and renders the verdicts for people and for CI.
package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/resource"
)

// MaxInputBytes bounds one input file: a ConfigMap holds at most 1 MiB, so
// this is a manifest of many objects, not a mistake to read into memory.
const MaxInputBytes = 16 << 20

// maxListDepth bounds nested v1 Lists.
const maxListDepth = 4

// Input is one object read from a manifest.
type Input struct {
	// Source names where it came from: the file and, in a multi-document
	// file, the document's position (deployment.yaml#2).
	Source string
	// ConfigMap is the object to admit; a bare resource document is wrapped
	// in the ConfigMap that would hold it.
	ConfigMap *corev1.ConfigMap
}

// Skipped is an object the webhooks would never see.
type Skipped struct {
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	Why    string `json:"why"`
}

// InputError is input that cannot be read as manifests.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func inputErrorf(format string, args ...any) error {
	return &InputError{msg: fmt.Sprintf(format, args...)}
}

// Read decodes the YAML or JSON manifests in r: ConfigMaps carrying the
// flinkgate.io/kind label (as kubectl apply takes them, several per file,
// v1 Lists too) or bare DeploymentTarget and Deployment documents. name is
// the file's name ("-" for stdin); objects without a namespace get
// namespace. Objects flinkgate does not admit are returned as skipped.
func Read(r io.Reader, name, namespace string) ([]Input, []Skipped, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInputBytes+1))
	if err != nil {
		return nil, nil, inputErrorf("read %s: %v", name, err)
	}
	if len(data) > MaxInputBytes {
		return nil, nil, inputErrorf("%s is larger than %d bytes; split it", name, MaxInputBytes)
	}
	var docs [][]byte
	yr := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := yr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, inputErrorf("read %s: %v", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
	d := decoder{file: name, namespace: namespace}
	for i, doc := range docs {
		source := name
		if len(docs) > 1 {
			source = fmt.Sprintf("%s#%d", name, i+1)
		}
		if err := d.decode(source, doc, len(docs) == 1, 0); err != nil {
			return nil, nil, err
		}
	}
	return d.inputs, d.skipped, nil
}

type decoder struct {
	file, namespace string
	inputs          []Input
	skipped         []Skipped
}

// header is what tells a manifest from a bare document.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Items []map[string]any `json:"items"`
}

func (d *decoder) decode(source string, doc []byte, only bool, depth int) error {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return inputErrorf("%s: not a YAML or JSON object: %v", source, err)
	}
	switch {
	case h.APIVersion == "v1" && h.Kind == "ConfigMap":
		return d.configMap(source, doc)
	case h.APIVersion == "v1" && h.Kind == "List":
		if depth >= maxListDepth {
			return inputErrorf("%s: Lists nested deeper than %d", source, maxListDepth)
		}
		for i, item := range h.Items {
			b, err := yaml.Marshal(item)
			if err != nil {
				return inputErrorf("%s: item %d: %v", source, i, err)
			}
			if err := d.decode(fmt.Sprintf("%s[%d]", source, i), b, false, depth+1); err != nil {
				return err
			}
		}
		return nil
	case h.Kind == resource.KindTarget || h.Kind == resource.KindDeployment:
		// The document format allows any apiVersion.
		return d.bare(source, doc, h, only)
	case h.Kind == "":
		return inputErrorf("%s: has no kind; expected a ConfigMap manifest or a %s or %s document", source, resource.KindTarget, resource.KindDeployment)
	}
	d.skipped = append(d.skipped, Skipped{Source: source, Kind: h.Kind, Name: h.Metadata.Name, Why: "not a ConfigMap; flinkgate's webhooks do not see it"})
	return nil
}

func (d *decoder) configMap(source string, doc []byte) error {
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(doc, &cm); err != nil {
		return inputErrorf("%s: not a valid ConfigMap: %v", source, err)
	}
	if _, ok := cm.Labels[resource.LabelKind]; !ok {
		d.skipped = append(d.skipped, Skipped{Source: source, Kind: "ConfigMap", Name: cm.Name, Why: "no " + resource.LabelKind + " label; flinkgate's webhooks do not see it"})
		return nil
	}
	if cm.Name == "" {
		return inputErrorf("%s: the ConfigMap has no metadata.name", source)
	}
	if cm.Namespace == "" {
		cm.Namespace = d.namespace
	}
	d.inputs = append(d.inputs, Input{Source: source, ConfigMap: &cm})
	return nil
}

// bare wraps a resource document in its ConfigMap. The name is
// metadata.name, or the file's base name when the file holds only this
// document.
func (d *decoder) bare(source string, doc []byte, h header, only bool) error {
	name := h.Metadata.Name
	if name == "" && only && d.file != "-" {
		base := filepath.Base(d.file)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if name == "" {
		return inputErrorf("%s: a bare %s document needs metadata.name here (it names the ConfigMap); or put it in a file of its own, named after it", source, h.Kind)
	}
	d.inputs = append(d.inputs, Input{Source: source, ConfigMap: &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.namespace, Labels: map[string]string{resource.LabelKind: h.Kind}},
		Data:       map[string]string{resource.DataKey: string(doc)},
	}})
	return nil
}

// stripComments drops whole-line comments, so a document of only comments
// (a file's header before the first ---) counts as empty.
func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
