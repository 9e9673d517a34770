// Package resource is flinkgate's contract and domain: the ConfigMap layout
// of DeploymentTargets and Deployments, parsing and validating them, and
// applying a target's patch set to a deployment document. It knows nothing of
// HTTP or the Kubernetes API server.
package resource

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/jsonvalue"
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
	// AnnotationFlinkAuthorized ("true") records on a target that its
	// creator passed the check on creating FlinkDeployments in its
	// namespace (--flink-operator=on); only the mutating webhook sets it.
	AnnotationFlinkAuthorized = "flinkgate.io/flink-authorized"
)

// Format is how a resource document is written; a patched document keeps it.
type Format = codec.Format

const (
	FormatYAML = codec.YAML
	FormatJSON = codec.JSON
)

// Document is a decoded resource document.
type Document struct {
	Format Format
	Raw    string
	// Tree is the document as JSON values; numbers are json.Number so that
	// they survive a round trip unchanged.
	Tree map[string]any
	// Indented records whether a JSON document is pretty-printed, so a
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

// TooLargeError is a document, or a patched document, beyond one of the
// bounds of docs/security.md, "Bounds" (bytes, nesting depth, values). Policies deny it
// with reason too_large.
type TooLargeError = codec.TooLargeError

// DecodeDocument checks the ConfigMap's data layout and decodes its document,
// checking the fields every kind shares; it stops when ctx ends.
func DecodeDocument(ctx context.Context, cm Object, kind string) (*Document, error) {
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
	d, err := codec.Decode(ctx, raw)
	if err != nil {
		return nil, documentError(fmt.Sprintf("data[%q]", DataKey), err)
	}
	doc := &Document{Raw: raw, Format: d.Format, Tree: d.Tree, Indented: d.Indented}
	if err := checkEnvelope(doc.Tree, cm.Name, kind); err != nil {
		return nil, err
	}
	return doc, nil
}

// documentError names the document a codec error is about: bad input
// becomes an *InvalidError, a bound a *TooLargeError; anything else (the
// context ending) is passed on.
func documentError(subject string, err error) error {
	var inv *codec.Error
	if errors.As(err, &inv) {
		return invalidf("%s %s", subject, inv.Msg)
	}
	var tl *codec.TooLargeError
	if errors.As(err, &tl) {
		return &TooLargeError{What: tl.What, Limit: tl.Limit, Msg: subject + " " + tl.Msg}
	}
	return err
}

func checkEnvelope(tree map[string]any, name, kind string) error {
	k, ok := tree["kind"]
	if !ok {
		return invalidf("kind is missing from data[%q]; add kind: %s", DataKey, kind)
	}
	if k != kind {
		return invalidf("kind is %s but the ConfigMap's %s label is %s; they must match", jsonvalue.Describe(k), LabelKind, kind)
	}
	if v, ok := tree["apiVersion"]; ok {
		if _, isString := v.(string); !isString {
			return invalidf("apiVersion must be a string, got %s", jsonvalue.KindOf(v))
		}
	}
	if v, ok := tree["metadata"]; ok {
		md, isMap := v.(map[string]any)
		if !isMap {
			return invalidf("metadata must be a mapping, got %s", jsonvalue.KindOf(v))
		}
		if n, ok := md["name"]; ok && n != name {
			return invalidf("metadata.name is %s but the ConfigMap is named %q; they must match (or leave metadata.name out)", jsonvalue.Describe(n), name)
		}
	}
	spec, ok := tree["spec"]
	if !ok {
		return invalidf("spec is missing from data[%q]; a %s needs a spec mapping", DataKey, kind)
	}
	if _, isMap := spec.(map[string]any); !isMap {
		return invalidf("spec must be a mapping, got %s", jsonvalue.KindOf(spec))
	}
	return nil
}

// Encode writes tree in the document's own format, within the bounds of
// codec.Encode, stopping when ctx ends.
func (d *Document) Encode(ctx context.Context, tree any) (string, error) {
	// A patched document is usually the document read plus what the patch
	// set added: room for that makes writing it one allocation.
	out, err := codec.EncodeSized(ctx, tree, d.Format, d.Indented, strings.HasSuffix(d.Raw, "\n"), len(d.Raw)+len(d.Raw)/4+512)
	if err != nil {
		return "", documentError("the patched document", err)
	}
	return out, nil
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

// AnnotationChanged reports whether an annotation key was added, changed
// or removed between two objects' annotations (either may be nil).
func AnnotationChanged(old, new map[string]string, key string) bool {
	was, had := old[key]
	is, has := new[key]
	return had != has || was != is
}
