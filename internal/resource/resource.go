package resource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unsafe"

	"k8s.io/apimachinery/pkg/util/validation"

	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/patchset"
)

// Object is what the contract reads of a ConfigMap that holds a target or a
// deployment. It is a plain struct so that this package stays free of the
// Kubernetes API machinery; package configmap fills it from a ConfigMap.
type Object struct {
	Name      string
	Namespace string
	// UID and ResourceVersion identify the stored version, if any.
	UID             string
	ResourceVersion string
	// Terminating is set once the object's deletion has begun.
	Terminating bool
	Data        map[string]string
	BinaryData  map[string][]byte
	// FlinkAuthorized is the object's AnnotationFlinkAuthorized, "true".
	FlinkAuthorized bool
}

// Target is a parsed DeploymentTarget.
type Target struct {
	Name string
	// Namespace is spec.kubernetes.namespace, empty when not set.
	Namespace string
	PatchSet  []patchset.Operation
	// Spec is the spec as decoded, for comparing updates as data.
	Spec any
	// UID and ResourceVersion identify the stored object the target was
	// parsed from; Terminating is set once its deletion has begun.
	UID             string
	ResourceVersion string
	Terminating     bool
	// FlinkAuthorized is set when admission recorded that the target's
	// creator may create FlinkDeployments in its namespace
	// (AnnotationFlinkAuthorized).
	FlinkAuthorized bool
}

// TargetLookup is what the API server (or a cache of it) knows about a
// referenced target.
type TargetLookup struct {
	// Target is nil when the target does not exist.
	Target *Target
	// Err is set when the target exists but is invalid (an *InvalidError), or
	// when it could not be looked up.
	Err error
	// Live is set when the answer was read from the API server for this
	// look-up rather than from a cache, so it need not be read again.
	Live bool
}

// ResolvedNamespace is where the target's Flink clusters run: its own
// namespace, or the platform namespace when none is set.
func (t *Target) ResolvedNamespace(platform string) string {
	if t.Namespace != "" {
		return t.Namespace
	}
	return platform
}

// The fields a target document may have; anything else is a typo to report.
var (
	targetTopFields      = []string{"apiVersion", "kind", "metadata", "spec"}
	targetMetadataFields = []string{"annotations", "labels", "name"}
	targetSpecFields     = []string{"deploymentPatchSet", "kubernetes"}
	targetK8sFields      = []string{"namespace"}
)

// ParseTarget decodes and validates a DeploymentTarget ConfigMap, stopping
// when ctx ends.
func ParseTarget(ctx context.Context, cm Object) (*Target, error) {
	if cm.Name == "" {
		return nil, invalidf("a target needs a name of its own (metadata.name): deployments reference targets by name, so generateName cannot be used; set metadata.name, for example to \"staging\"")
	}
	if errs := dns1123LabelErrors(cm.Name); len(errs) > 0 {
		return nil, invalidf("the name %q is not a DNS-1123 label (%s); a target's name is used as a label value, so pick a name like \"staging\"", cm.Name, strings.Join(errs, "; "))
	}
	doc, err := DecodeDocument(ctx, cm, KindTarget)
	if err != nil {
		return nil, err
	}
	if err := onlyFields(doc.Tree, "", targetTopFields); err != nil {
		return nil, err
	}
	if md, ok := doc.Tree["metadata"].(map[string]any); ok {
		if err := onlyFields(md, "metadata.", targetMetadataFields); err != nil {
			return nil, err
		}
	}
	spec := doc.Tree["spec"].(map[string]any) // checkEnvelope made sure
	if err := onlyFields(spec, "spec.", targetSpecFields); err != nil {
		return nil, err
	}
	t := &Target{Name: cm.Name, Spec: spec, UID: cm.UID, ResourceVersion: cm.ResourceVersion, Terminating: cm.Terminating, FlinkAuthorized: cm.FlinkAuthorized}
	k8s, ok := spec["kubernetes"]
	if !ok {
		return nil, invalidf("spec.kubernetes is missing; write kubernetes: {namespace: <namespace>} (or kubernetes: {} for the platform namespace)")
	}
	k8sMap, ok := k8s.(map[string]any)
	if !ok {
		return nil, invalidf("spec.kubernetes must be a mapping, got %s", jsonvalue.KindOf(k8s))
	}
	if err := onlyFields(k8sMap, "spec.kubernetes.", targetK8sFields); err != nil {
		return nil, err
	}
	if ns, ok := k8sMap["namespace"]; ok {
		s, isString := ns.(string)
		if !isString {
			return nil, invalidf("spec.kubernetes.namespace must be a string, got %s", jsonvalue.KindOf(ns))
		}
		if errs := dns1123LabelErrors(s); len(errs) > 0 {
			return nil, invalidf("spec.kubernetes.namespace %q is not a valid namespace name (%s)", s, strings.Join(errs, "; "))
		}
		t.Namespace = s
	}
	if ps, ok := spec["deploymentPatchSet"]; ok {
		ops, err := patchset.Parse(ps)
		if err != nil {
			return nil, invalidf("spec.deploymentPatchSet%s", err)
		}
		for i := range ops {
			if p := guardedPointer(&ops[i]); p != "" {
				return nil, invalidf("spec.deploymentPatchSet[%d] (%s %s) would change %s; a patch set may not change a deployment's kind or target", i, ops[i].Op, ops[i].Path, p)
			}
		}
		t.PatchSet = ops
	}
	return t, nil
}

// dns1123LabelErrors is validation.IsDNS1123Label, which matches a regular
// expression, for the valid names every request carries checked by hand
// first; an invalid name gets the library's messages.
func dns1123LabelErrors(s string) []string {
	if isDNS1123Label(s) {
		return nil
	}
	return validation.IsDNS1123Label(s)
}

// isDNS1123Label reports whether s is at most 63 characters of lower-case
// letters, digits and '-', starting and ending with a letter or digit.
func isDNS1123Label(s string) bool {
	if s == "" || len(s) > validation.DNS1123LabelMaxLength || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// guardedPointer returns the protected pointer an operation writes exactly,
// if any. A write to an ancestor such as /spec is caught when applied.
func guardedPointer(op *patchset.Operation) string {
	if op.Op == "test" {
		return ""
	}
	for _, p := range []string{"", "/kind", "/spec/deploymentTargetName"} {
		if op.Path == p || (op.Op == "move" && op.From == p) {
			if p == "" {
				return "the whole document"
			}
			return p
		}
	}
	return ""
}

// onlyFields reports the first unknown field, with a hint when it differs
// from a known one only by case (deploymentPatchset for deploymentPatchSet).
func onlyFields(m map[string]any, prefix string, known []string) error {
	var unknown []string
	for k := range m {
		if !contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	f := unknown[0]
	for _, k := range known {
		if strings.EqualFold(k, f) {
			return invalidf("unknown field %s%s; did you mean %s%s?", prefix, f, prefix, k)
		}
	}
	return invalidf("unknown field %s%s; the allowed fields there are %s", prefix, f, strings.Join(known, ", "))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// What the mutating webhook records on a deployment it patched: the target
// version it applied, and a digest of the document it produced for it.
const (
	AnnotationTargetUID             = "flinkgate.io/target-uid"
	AnnotationTargetResourceVersion = "flinkgate.io/target-resource-version"
	AnnotationDigest                = "flinkgate.io/resource-digest"
)

// Digest identifies data as the document patched for this target, so the
// validating webhook can tell that nothing rewrote it after the mutating
// webhook. The target's UID names its patch set exactly (a target's data is
// immutable); its resourceVersion is left out because metadata changes
// (a label, a finalizer) bump it between the two webhooks without changing
// what patching yields.
func Digest(t *Target, data string) string {
	h := sha256.New()
	zero := []byte{0}
	h.Write(stringBytes(t.UID))
	h.Write(zero)
	h.Write(stringBytes(data))
	h.Write(zero)
	var sum [sha256.Size]byte
	const prefix = "sha256:"
	var out [len(prefix) + 2*sha256.Size]byte
	copy(out[:], prefix)
	hex.Encode(out[len(prefix):], h.Sum(sum[:0]))
	return string(out[:])
}

// stringBytes is s's bytes without a copy, for io.Writers only: a Writer
// must neither modify nor retain them (io.Writer's contract), and copying
// the document (about 2 KB) for the digest was a tenth of a deployment
// create's allocated bytes.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Deployment is a parsed Deployment.
type Deployment struct {
	Doc        *Document
	Name       string
	TargetName string
}

// ParseDeployment decodes a Deployment ConfigMap, stopping when ctx ends;
// only the envelope and spec.deploymentTargetName are checked, the rest is
// free-form.
func ParseDeployment(ctx context.Context, cm Object) (*Deployment, error) {
	doc, err := DecodeDocument(ctx, cm, KindDeployment)
	if err != nil {
		return nil, err
	}
	spec := doc.Tree["spec"].(map[string]any) // checkEnvelope made sure
	v, ok := spec["deploymentTargetName"]
	if !ok {
		return nil, invalidf("spec.deploymentTargetName is missing; name the DeploymentTarget (in namespace %s) this deployment runs on", cm.Namespace)
	}
	name, ok := v.(string)
	if !ok || name == "" {
		return nil, invalidf("spec.deploymentTargetName must be a target's name, got %s", jsonvalue.Describe(v))
	}
	if errs := dns1123LabelErrors(name); len(errs) > 0 {
		return nil, invalidf("spec.deploymentTargetName %q cannot name a target (%s); targets are named like \"staging\"", name, strings.Join(errs, "; "))
	}
	return &Deployment{Doc: doc, Name: cm.Name, TargetName: name}, nil
}

// Patched applies the target's patch set to the deployment document and
// returns the new data["resource.yaml"] and whether it changed, stopping
// when ctx ends. A result beyond the bounds is a *TooLargeError; an
// operation that fails a *patchset.Error.
func (d *Deployment) Patched(ctx context.Context, t *Target) (string, bool, error) {
	if len(t.PatchSet) == 0 {
		return d.Doc.Raw, false, nil
	}
	// Whether the patch set changed the document is decided without a copy
	// of it: Equal trees have as many values, so a different count is a
	// change; only an equal count (replacements, tests, an add and its
	// removal) needs the exact comparison, with the document read again.
	after, counts, err := patchset.ApplyCounted(ctx, d.Doc.Tree, t.PatchSet, patchset.Limits{MaxBytes: codec.MaxDocumentBytes, MaxValues: codec.MaxValues})
	if err != nil {
		var perr *patchset.Error
		if errors.As(err, &perr) && perr.TooLarge {
			return "", false, &TooLargeError{What: "bytes", Limit: codec.MaxDocumentBytes, Msg: perr.Error()}
		}
		return "", false, err
	}
	m, ok := after.(map[string]any)
	if !ok {
		return "", false, fmt.Errorf("the patch set turned the document into %s", jsonvalue.KindOf(after))
	}
	if err := checkEnvelope(m, d.Name, KindDeployment); err != nil {
		return "", false, fmt.Errorf("the patched document is no longer a valid deployment: %w", err)
	}
	if spec := m["spec"].(map[string]any); spec["deploymentTargetName"] != d.TargetName {
		return "", false, fmt.Errorf("the patch set changed spec.deploymentTargetName; it may not")
	}
	if counts.After == counts.Before {
		same, err := d.same(ctx, m)
		if err != nil {
			return "", false, err
		}
		if same {
			return d.Doc.Raw, false, nil
		}
	}
	out, err := d.Doc.Encode(ctx, m)
	if err != nil {
		return "", false, err
	}
	return out, true, nil
}

// same reports whether tree equals the document as it was read. It reads
// the document again rather than keep a copy of it: only patch sets that
// leave the number of values as it was get here. The document was read
// once already, so reading it again cannot fail for its content, and it is
// not cut short by ctx, as the comparison it replaces was not.
func (d *Deployment) same(ctx context.Context, tree map[string]any) (bool, error) {
	orig, err := codec.Decode(context.WithoutCancel(ctx), d.Doc.Raw)
	if err != nil {
		return false, fmt.Errorf("read the deployment's document again: %w", err)
	}
	return jsonvalue.Equal(orig.Tree, tree), nil
}
