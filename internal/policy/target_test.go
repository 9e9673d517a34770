package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// The namespace annotation records where a target's Flink clusters run as
// decided when it was created; a later metadata update, even under a
// different platform namespace, must not rewrite it.
func TestTargetUpdateMutateKeepsTheStoredNamespace(t *testing.T) {
	const noNamespace = "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n"
	const staging = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	target := func(doc string, annots map[string]string) *corev1.ConfigMap {
		c := cm("t", resource.KindTarget)
		c.Data = map[string]string{resource.DataKey: doc}
		c.Annotations = annots
		return c
	}
	cases := []struct {
		name        string
		doc         string
		stored, new map[string]string
		platform    string
		want        string
	}{
		{name: "A target without a namespace keeps the platform namespace it was created under when flinkgate now runs elsewhere.",
			doc: noNamespace, stored: map[string]string{resource.AnnotationNamespace: "old-platform"}, new: map[string]string{resource.AnnotationNamespace: "old-platform", "team": "data"},
			platform: "new-platform", want: "old-platform"},
		{name: "A user's change of the annotation is undone to the stored value.",
			doc: staging, stored: map[string]string{resource.AnnotationNamespace: "staging"}, new: map[string]string{resource.AnnotationNamespace: "production"},
			platform: "flink-platform", want: "staging"},
		{name: "An update that drops the annotation gets the stored value back.",
			doc: staging, stored: map[string]string{resource.AnnotationNamespace: "staging"}, new: nil,
			platform: "flink-platform", want: "staging"},
		{name: "A target stored without the annotation (created while the webhook was bypassed) gets its resolved namespace.",
			doc: noNamespace, stored: nil, new: nil,
			platform: "flink-platform", want: "flink-platform"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, obj := target(tc.doc, tc.stored), target(tc.doc, tc.new)
			d := TargetUpdateMutate(Request{Stage: StageMutate, Operation: Update, Namespace: old.Namespace, Name: old.Name, Old: old, New: obj, PlatformNamespace: tc.platform})
			if !d.Allowed || d.Object == nil {
				t.Fatalf("got %+v, want an allowed object", d)
			}
			if got := d.Object.Annotations[resource.AnnotationNamespace]; got != tc.want {
				t.Errorf("%s = %q, want %q", resource.AnnotationNamespace, got, tc.want)
			}
		})
	}
}

// targetCM is a DeploymentTarget ConfigMap holding doc.
func targetCM(name, doc string) *corev1.ConfigMap {
	c := cm(name, resource.KindTarget)
	c.Data = map[string]string{resource.DataKey: doc}
	return c
}

// parsedTarget parses c as a target, failing t if it does not parse.
func parsedTarget(t *testing.T, c *corev1.ConfigMap) *resource.Target {
	t.Helper()
	tg, err := configmap.ParseTarget(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// wantDecision checks a decision's verdict, reason and that its message
// says each of says.
func wantDecision(t *testing.T, d Decision, allowed bool, reason Reason, says ...string) {
	t.Helper()
	if d.Allowed != allowed || d.Reason != reason {
		t.Errorf("got allowed=%v reason=%q (%s), want allowed=%v reason=%q", d.Allowed, d.Reason, d.Message, allowed, reason)
	}
	for _, s := range says {
		if !strings.Contains(d.Message, s) {
			t.Errorf("message %q does not say %q", d.Message, s)
		}
	}
}

func TestInvalidTarget(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason Reason
		says   []string
	}{
		{name: "A document that does not parse is invalid, and the message says why.",
			err: errors.New("spec is missing"), reason: ReasonInvalid, says: []string{"invalid DeploymentTarget", "spec is missing"}},
		{name: "A document beyond a bound is too large, and the message points at the bounds.",
			err: &resource.TooLargeError{}, reason: ReasonTooLarge, says: []string{"too large", BoundsDoc}},
		{name: "A request whose deadline passed is unavailable, and the message says to try again.",
			err: fmt.Errorf("decode: %w", context.DeadlineExceeded), reason: ReasonUnavailable, says: []string{"try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantDecision(t, InvalidTarget(tc.err), false, tc.reason, tc.says...)
		})
	}
}

func TestTargetCreateMutate(t *testing.T) {
	cases := []struct {
		name          string
		doc           string
		finalizers    []string
		wantNamespace string
		wantWarnings  []string
	}{
		{name: "A target with its own namespace records it and warns of nothing.",
			doc: "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n", wantNamespace: "staging"},
		{name: "A target without a namespace records the platform namespace and warns that jobs run there.",
			doc: "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n", wantNamespace: "flink-platform", wantWarnings: []string{"sets no spec.kubernetes.namespace"}},
		{name: "A target naming the platform namespace warns that jobs run there.",
			doc: "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: flink-platform}\n", wantNamespace: "flink-platform", wantWarnings: []string{"runs Flink clusters in the platform namespace"}},
		{name: "A patch set that appends to an array warns that every modification appends again.",
			doc:           "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/args/-, value: x}\n",
			wantNamespace: "staging", wantWarnings: []string{"spec.deploymentPatchSet[0] (add /spec/args/-) appends to an array"}},
		{name: "A target that already carries the finalizer keeps it once.",
			doc: "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n", finalizers: []string{resource.FinalizerInUse}, wantNamespace: "staging"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := targetCM("t", tc.doc)
			obj.Finalizers = tc.finalizers
			before := obj.DeepCopy()
			d := TargetCreateMutate(Request{Stage: StageMutate, Operation: Create, Name: "t", New: obj, PlatformNamespace: "flink-platform"}, parsedTarget(t, obj))
			wantDecision(t, d, true, ReasonNone)
			if d.Object == nil {
				t.Fatal("no object to store")
			}
			if d.Object.Immutable == nil || !*d.Object.Immutable {
				t.Error("the stored target is not immutable")
			}
			if got := d.Object.Annotations[resource.AnnotationNamespace]; got != tc.wantNamespace {
				t.Errorf("%s = %q, want %q", resource.AnnotationNamespace, got, tc.wantNamespace)
			}
			if !slices.Equal(d.Object.Finalizers, []string{resource.FinalizerInUse}) {
				t.Errorf("finalizers %v, want only %s", d.Object.Finalizers, resource.FinalizerInUse)
			}
			if len(d.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings %q, want %d", d.Warnings, len(tc.wantWarnings))
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(d.Warnings[i], w) {
					t.Errorf("warning %q does not say %q", d.Warnings[i], w)
				}
			}
			if !reflect.DeepEqual(obj, before) {
				t.Error("the request's object changed")
			}
		})
	}
}

func TestTargetCreateValidate(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	mutated := func(immutable bool, namespace string) *corev1.ConfigMap {
		c := targetCM("t", doc)
		c.Immutable = &immutable
		c.Annotations = map[string]string{resource.AnnotationNamespace: namespace}
		return c
	}
	// inPlatform is a target whose spec (after "spec:") resolves to the
	// platform namespace, as the mutating webhook left it.
	inPlatform := func(immutable bool, spec string) *corev1.ConfigMap {
		c := targetCM("t", "kind: DeploymentTarget\nspec:\n  "+spec+"\n")
		c.Immutable = &immutable
		c.Annotations = map[string]string{resource.AnnotationNamespace: "flink-platform"}
		return c
	}
	cases := []struct {
		name     string
		obj      *corev1.ConfigMap
		access   Access
		flink    FlinkOperator
		allowed  bool
		reason   Reason
		says     []string
		warnings int
	}{
		{name: "A target as the mutating webhook left it is allowed.",
			obj: mutated(true, "staging"), allowed: true},
		{name: "A target that is not immutable is denied, pointing at the mutating webhook's registration.",
			obj: mutated(false, "staging"), reason: ReasonInvalid, says: []string{"immutable: true", "registered"}},
		{name: "A target whose namespace annotation disagrees with its document is denied.",
			obj: mutated(true, "production"), reason: ReasonInvalid, says: []string{`"production"`, `its namespace is "staging"`, "leave the annotation to flinkgate"}},
		{name: "Missing platform access is a warning when the preflight does not enforce.",
			obj: mutated(true, "staging"), access: Access{Problem: "grant flinkgate edit in staging"}, allowed: true, warnings: 1},
		{name: "Missing platform access denies the target when the preflight enforces, saying what to grant.",
			obj: mutated(true, "staging"), access: Access{Problem: "grant flinkgate edit in staging", Enforce: true}, reason: ReasonRBAC, says: []string{"cannot be served", "grant flinkgate edit in staging"}},
		{name: "A preflight that could not check denies as unavailable when it enforces.",
			obj: mutated(true, "staging"), access: Access{Problem: "the check failed; try again", Enforce: true, Unavailable: true}, reason: ReasonUnavailable, says: []string{"try again"}},
		{name: "With the Flink operator off a target in the platform namespace is allowed with a warning.",
			obj: inPlatform(true, "kubernetes: {namespace: flink-platform}"), allowed: true, warnings: 1},
		{name: "With the Flink operator on a target naming the platform namespace is denied, saying why and to pick a namespace of its own.",
			obj: inPlatform(true, "kubernetes: {namespace: flink-platform}"), flink: flinkOn, reason: ReasonInvalid,
			says: []string{`target "t" would run Flink clusters in the platform namespace "flink-platform"`, "--flink-operator=on", "ServiceAccounts", "set spec.kubernetes.namespace to a namespace of its own"}},
		{name: "With the Flink operator on a target without a namespace, which resolves to the platform namespace, is denied.",
			obj: inPlatform(true, "kubernetes: {}"), flink: flinkOn, reason: ReasonInvalid,
			says: []string{"in the platform namespace", "set spec.kubernetes.namespace"}},
		{name: "With the Flink operator on a target in a namespace of its own is allowed.",
			obj: mutated(true, "staging"), flink: flinkOn, allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := TargetCreateValidate(Request{Stage: StageValidate, Operation: Create, Name: "t", New: tc.obj, PlatformNamespace: "flink-platform", FlinkOperator: tc.flink}, parsedTarget(t, tc.obj), tc.access)
			wantDecision(t, d, tc.allowed, tc.reason, tc.says...)
			if len(d.Warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", d.Warnings, tc.warnings)
			}
		})
	}
}

func TestTargetUpdateValidate(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	stored := targetCM("t", doc)
	changed := func(f func(c *corev1.ConfigMap)) *corev1.ConfigMap {
		c := stored.DeepCopy()
		f(c)
		return c
	}
	cases := []struct {
		name    string
		new     *corev1.ConfigMap
		allowed bool
		reason  Reason
		says    []string
	}{
		{name: "A metadata change is allowed.",
			new: changed(func(c *corev1.ConfigMap) { c.Labels["team"] = "data" }), allowed: true},
		{name: "The same spec written in another format is allowed.",
			new: changed(func(c *corev1.ConfigMap) {
				c.Data[resource.DataKey] = `{"kind": "DeploymentTarget", "spec": {"kubernetes": {"namespace": "staging"}}}`
			}), allowed: true},
		{name: "Removing the kind label is denied, saying targets are immutable and how to change one.",
			new: changed(func(c *corev1.ConfigMap) { delete(c.Labels, resource.LabelKind) }), reason: ReasonImmutable, says: []string{resource.LabelKind, immutableRemedy}},
		{name: "Adding a data key is denied.",
			new: changed(func(c *corev1.ConfigMap) { c.Data["extra"] = "x" }), reason: ReasonImmutable, says: []string{`data key "extra"`}},
		{name: "Adding a binaryData key is denied.",
			new: changed(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"bin": {1}} }), reason: ReasonImmutable, says: []string{`binaryData key "bin"`}},
		{name: "Changing the spec is denied.",
			new: changed(func(c *corev1.ConfigMap) {
				c.Data[resource.DataKey] = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n"
			}), reason: ReasonImmutable, says: []string{`the spec of target "t" cannot change`}},
		{name: "A document that no longer parses is a changed spec.",
			new: changed(func(c *corev1.ConfigMap) { c.Data[resource.DataKey] = "kind: [" }), reason: ReasonImmutable, says: []string{"cannot change"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantDecision(t, TargetUpdateValidate(Request{Stage: StageValidate, Operation: Update, Name: "t", Old: stored, New: tc.new}), tc.allowed, tc.reason, tc.says...)
		})
	}
}

func TestTargetDeleteValidate(t *testing.T) {
	many := make([]string, maxNamedReferrers+2)
	for i := range many {
		many[i] = fmt.Sprintf("d%d", i)
	}
	cases := []struct {
		name      string
		referrers []string
		err       error
		allowed   bool
		reason    Reason
		says      []string
	}{
		{name: "A target no deployment references may be deleted.", allowed: true},
		{name: "A referenced target is denied, naming the deployments and what to do.",
			referrers: []string{"a", "b"}, reason: ReasonReferenced, says: []string{"referenced by 2 deployment(s): a, b", "delete those deployments or point them at another target"}},
		{name: "A denial names at most ten deployments and counts the rest.",
			referrers: many, reason: ReasonReferenced, says: []string{"d9", "and 2 more"}},
		{name: "A look-up that failed denies as unavailable, saying to try again.",
			err: errors.New("list timed out"), reason: ReasonUnavailable, says: []string{"list timed out", "try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := TargetDeleteValidate(Request{Stage: StageValidate, Operation: Delete, Name: "t", Old: targetCM("t", "")}, tc.referrers, tc.err)
			wantDecision(t, d, tc.allowed, tc.reason, tc.says...)
			if d.Target != "t" {
				t.Errorf("decision names target %q, want t", d.Target)
			}
			if strings.Contains(d.Message, "d10") {
				t.Errorf("message names an eleventh deployment: %s", d.Message)
			}
		})
	}
}
