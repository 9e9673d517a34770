// Package resource is flinkgate's contract and domain: the ConfigMap layout
// of DeploymentTargets and Deployments, parsing and validating them, and
// applying a target's patch set to a deployment document. It knows nothing of
// HTTP or the Kubernetes API server.
package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/patchset"
)

// The ConfigMap contract of SPEC section 1.
const (
	// LabelKind marks a ConfigMap as a flinkgate object; its value is the kind.
	LabelKind = "flinkgate.io/kind"
	// KindTarget and KindDeployment are the two values LabelKind may take.
	KindTarget     = "DeploymentTarget"
	KindDeployment = "Deployment"
	// DataKey holds the resource document.
	DataKey = "resource.yaml"
	// AnnotationNamespace records a target's resolved Kubernetes namespace.
	AnnotationNamespace = "flinkgate.io/namespace"
	// LabelDeploymentTarget records which target a deployment references; the
	// deployment cache is indexed by it, so the delete check is a lookup.
	LabelDeploymentTarget = "flinkgate.io/deployment-target"
	// AnnotationTargetNamespace records where a deployment's Flink cluster runs.
	AnnotationTargetNamespace = "flinkgate.io/target-namespace"
)

// Format is how a resource document is written; a patched document keeps it.
type Format int

const (
	FormatYAML Format = iota
	FormatJSON
)

// Document is a decoded resource document.
type Document struct {
	Format Format
	Raw    string
	// Tree is the document as JSON values; numbers are json.Number so that
	// they survive a round trip unchanged.
	Tree map[string]any
	// Indented records whether a JSON document spans several lines, so a
	// rewrite keeps its look.
	Indented bool
}

// InvalidError is a problem with what the user wrote. Its message says what is
// wrong and where; the policies add what to do.
type InvalidError struct{ msg string }

func (e *InvalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &InvalidError{msg: fmt.Sprintf(format, args...)}
}

// DecodeDocument checks the ConfigMap's data layout and decodes its document,
// checking the fields every kind shares.
func DecodeDocument(cm Object, kind string) (*Document, error) {
	if len(cm.BinaryData) > 0 {
		return nil, invalidf("binaryData is not allowed (found keys %s); keep the resource in data[%q] only", keyList(cm.BinaryData), DataKey)
	}
	var extra []string
	for k := range cm.Data {
		if k != DataKey {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, invalidf("data keys %s are not allowed; a %s keeps its document in data[%q] only", quoteAll(extra), kind, DataKey)
	}
	raw, ok := cm.Data[DataKey]
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, invalidf("data[%q] is missing or empty; it must hold the %s document (kind: %s, spec: ...)", DataKey, kind, kind)
	}
	doc := &Document{Raw: raw}
	trimmed := strings.TrimSpace(raw)
	var jsonBytes []byte
	if strings.HasPrefix(trimmed, "{") && json.Valid([]byte(trimmed)) {
		doc.Format = FormatJSON
		doc.Indented = strings.Contains(trimmed, "\n")
		jsonBytes = []byte(trimmed)
	} else {
		if err := checkAliasExpansion(raw); err != nil {
			return nil, err
		}
		j, err := yaml.YAMLToJSON([]byte(raw))
		if err != nil {
			return nil, invalidf("data[%q] is not valid YAML or JSON: %v", DataKey, err)
		}
		jsonBytes = j
	}
	tree, err := decodeJSONObject(jsonBytes)
	if err != nil {
		return nil, invalidf("data[%q] must be a mapping with kind and spec: %v", DataKey, err)
	}
	doc.Tree = tree
	if err := checkEnvelope(tree, cm.Name, kind); err != nil {
		return nil, err
	}
	return doc, nil
}

// maxExpandedBytes bounds what a YAML document may expand to through
// aliases. sigs.k8s.io/yaml refuses excessive aliasing only by node count,
// so a few aliases of a long string can still expand a small ConfigMap to
// gigabytes.
const maxExpandedBytes = 4 << 20

// checkAliasExpansion measures a YAML document's size with aliases expanded,
// without expanding them. Documents without anchors skip the second parse.
func checkAliasExpansion(raw string) error {
	if !strings.Contains(raw, "&") {
		return nil
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal([]byte(raw), &root); err != nil {
		return invalidf("data[%q] is not valid YAML or JSON: %v", DataKey, err)
	}
	memo := map[*yamlv3.Node]int{}
	if n := expandedSize(&root, memo); n > maxExpandedBytes {
		return invalidf("data[%q] expands through YAML aliases to more than %d bytes; write the document out without aliases", DataKey, maxExpandedBytes)
	}
	return nil
}

func expandedSize(n *yamlv3.Node, memo map[*yamlv3.Node]int) int {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = maxExpandedBytes + 1 // a cycle counts as too large
	size := len(n.Value) + 1
	if n.Kind == yamlv3.AliasNode {
		size = expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		size += expandedSize(c, memo)
		if size > maxExpandedBytes {
			break
		}
	}
	memo[n] = size
	return size
}

// decodeJSONObject decodes one JSON object, keeping numbers exact.
func decodeJSONObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	if d.More() {
		return nil, errors.New("unexpected data after the document")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the document is %s, not a mapping", patchset.KindOf(v))
	}
	return m, nil
}

func checkEnvelope(tree map[string]any, name, kind string) error {
	k, ok := tree["kind"]
	if !ok {
		return invalidf("kind is missing from data[%q]; add kind: %s", DataKey, kind)
	}
	if k != kind {
		return invalidf("kind is %s but the ConfigMap's %s label is %s; they must match", patchset.Describe(k), LabelKind, kind)
	}
	if v, ok := tree["apiVersion"]; ok {
		if _, isString := v.(string); !isString {
			return invalidf("apiVersion must be a string, got %s", patchset.KindOf(v))
		}
	}
	if v, ok := tree["metadata"]; ok {
		md, isMap := v.(map[string]any)
		if !isMap {
			return invalidf("metadata must be a mapping, got %s", patchset.KindOf(v))
		}
		if n, ok := md["name"]; ok && n != name {
			return invalidf("metadata.name is %s but the ConfigMap is named %q; they must match (or leave metadata.name out)", patchset.Describe(n), name)
		}
	}
	spec, ok := tree["spec"]
	if !ok {
		return invalidf("spec is missing from data[%q]; a %s needs a spec mapping", DataKey, kind)
	}
	if _, isMap := spec.(map[string]any); !isMap {
		return invalidf("spec must be a mapping, got %s", patchset.KindOf(spec))
	}
	return nil
}

// Encode writes tree in the document's own format.
func (d *Document) Encode(tree any) (string, error) {
	if d.Format == FormatYAML {
		// Marshal the tree directly: sigs.k8s.io/yaml would encode JSON and
		// parse it again, which costs more than the whole patch set.
		y, err := goyaml.Marshal(yamlValues(tree))
		if err != nil {
			return "", fmt.Errorf("encode document as yaml: %w", err)
		}
		return string(y), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Flink configuration values hold URLs; escaping & and < would garble them.
	enc.SetEscapeHTML(false)
	if d.Indented {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(tree); err != nil {
		return "", fmt.Errorf("encode document: %w", err)
	}
	out := buf.String()
	if !strings.HasSuffix(d.Raw, "\n") {
		out = strings.TrimSuffix(out, "\n")
	}
	return out, nil
}

// yamlValues turns json.Number into Go numbers, so YAML writes numbers and
// not quoted strings; integers beyond uint64 become floats.
func yamlValues(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = yamlValues(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = yamlValues(e)
		}
		return out
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return u
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	default:
		return v
	}
}

func keyList[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return quoteAll(keys)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
