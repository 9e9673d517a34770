package policy

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// The mutating rule copies the request's object shallowly, so it must
// replace, never write into, the maps it shares with it.
func TestDeploymentWriteMutateLeavesTheRequestsObjectAsItWas(t *testing.T) {
	target, err := configmap.ParseTarget(context.Background(), &corev1.ConfigMap{
		ObjectMeta: cm("staging", resource.KindTarget).ObjectMeta,
		Data: map[string]string{resource.DataKey: "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n" +
			"  deploymentPatchSet:\n  - {op: add, path: /spec/x, value: y}\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	target.UID, target.ResourceVersion = "uid-1", "7"
	cases := []struct {
		name   string
		labels map[string]string
		annots map[string]string
	}{
		{name: "an object with labels and annotations keeps them unchanged", labels: map[string]string{resource.LabelKind: resource.KindDeployment, "a": "b"}, annots: map[string]string{"note": "n"}},
		{name: "an object without annotations keeps none", labels: map[string]string{resource.LabelKind: resource.KindDeployment}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := cm("d", "")
			obj.Labels, obj.Annotations = tc.labels, tc.annots
			obj.Data = map[string]string{resource.DataKey: "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"}
			obj.Finalizers = []string{"example.com/f"}
			before := obj.DeepCopy()
			dep, err := configmap.ParseDeployment(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			d := DeploymentWriteMutate(context.Background(), Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: obj.Name, New: obj}, dep, resource.TargetLookup{Target: target})
			if !d.Allowed || d.Object == nil {
				t.Fatalf("got %+v, want an allowed object", d)
			}
			if !reflect.DeepEqual(obj, before) {
				t.Errorf("the request's object changed:\n%+v\nwas\n%+v", obj, before)
			}
			if d.Object.Labels[resource.LabelDeploymentTarget] != "staging" || d.Object.Annotations[resource.AnnotationTargetUID] != "uid-1" || d.Object.Data[resource.DataKey] == before.Data[resource.DataKey] {
				t.Errorf("the stored object lacks the target's record or the patched document: %+v", d.Object)
			}
		})
	}
}

// deploymentRequest is a deployment write of doc (pointing at staging
// unless doc says otherwise), as a create or as an update of old.
func deploymentRequest(t *testing.T, stage Stage, old *corev1.ConfigMap, doc string) (Request, *resource.Deployment) {
	t.Helper()
	obj := cm("d", resource.KindDeployment)
	obj.Data = map[string]string{resource.DataKey: doc}
	dep, err := configmap.ParseDeployment(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Stage: stage, Operation: Create, Namespace: obj.Namespace, Name: obj.Name, New: obj, PlatformNamespace: "flink-platform"}
	if old != nil {
		r.Operation, r.Old = Update, old
	}
	return r, dep
}

const stagingDeployment = "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"

// stagingTarget is target staging with the given patch set (YAML list
// items, or none), stored with a UID.
func stagingTarget(t *testing.T, patchSet string) *resource.Target {
	t.Helper()
	doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	if patchSet != "" {
		doc += "  deploymentPatchSet:\n" + patchSet
	}
	tg := parsedTarget(t, targetCM("staging", doc))
	tg.UID, tg.ResourceVersion = "uid-1", "7"
	return tg
}

func TestDeploymentWriteMutate(t *testing.T) {
	invalid := &resource.InvalidError{}
	patched := stagingTarget(t, "  - {op: add, path: /spec/template, value: {x: 1}}\n")
	// stored is the deployment as flinkgate admitted it for patched.
	r, dep := deploymentRequest(t, StageMutate, nil, stagingDeployment)
	stored := DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: patched}).Object
	terminatingTarget := stagingTarget(t, "")
	terminatingTarget.Terminating = true
	cases := []struct {
		name    string
		old     *corev1.ConfigMap
		doc     string
		found   resource.TargetLookup
		allowed bool
		reason  Reason
		says    []string
		// wantDoc, when allowed, is what the stored data[resource.yaml] holds.
		wantDoc string
	}{
		{name: "A deployment gets its target's patch set applied.",
			doc: stagingDeployment, found: resource.TargetLookup{Target: patched}, allowed: true,
			wantDoc: "kind: Deployment\nspec:\n  deploymentTargetName: staging\n  template:\n    x: 1\n"},
		{name: "A deployment on a target without a patch set keeps its document.",
			doc: stagingDeployment, found: resource.TargetLookup{Target: stagingTarget(t, "")}, allowed: true, wantDoc: stagingDeployment},
		{name: "An update that leaves the admitted document as it was is not patched again.",
			old: stored, doc: stored.Data[resource.DataKey], found: resource.TargetLookup{Target: patched}, allowed: true, wantDoc: stored.Data[resource.DataKey]},
		{name: "A missing target is denied, saying to create it or fix the name.",
			doc: stagingDeployment, reason: ReasonTargetNotFound, says: []string{`references target "staging", which does not exist`, "create the DeploymentTarget first or fix spec.deploymentTargetName"}},
		{name: "An invalid target is denied as invalid, saying to recreate it.",
			doc: stagingDeployment, found: resource.TargetLookup{Err: invalid}, reason: ReasonInvalid, says: []string{"which is invalid", "recreate the target"}},
		{name: "A target look-up that failed is denied as unavailable, saying to try again.",
			doc: stagingDeployment, found: resource.TargetLookup{Err: errors.New("connection refused")}, reason: ReasonUnavailable, says: []string{"connection refused", "try again"}},
		{name: "A new reference to a terminating target is denied, saying to use another.",
			doc: stagingDeployment, found: resource.TargetLookup{Target: terminatingTarget}, reason: ReasonTargetTerminating, says: []string{"is being deleted", "point the deployment at another target"}},
		{name: "A deployment already on a terminating target may still change.",
			old: stored, doc: stagingDeployment + "  note: x\n", found: resource.TargetLookup{Target: terminatingTarget}, allowed: true,
			wantDoc: stagingDeployment + "  note: x\n"},
		{name: "A patch that cannot be applied is denied, naming the operation and what to fix.",
			doc: stagingDeployment, found: resource.TargetLookup{Target: stagingTarget(t, "  - {op: remove, path: /spec/missing}\n")}, reason: ReasonPatchFailed,
			says: []string{"deploymentPatchSet[0] (op remove, path /spec/missing)", "fix the deployment or the target's patch set"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, dep := deploymentRequest(t, StageMutate, tc.old, tc.doc)
			d := DeploymentWriteMutate(context.Background(), r, dep, tc.found)
			wantDecision(t, d, tc.allowed, tc.reason, tc.says...)
			if d.Target != "staging" {
				t.Errorf("decision names target %q, want staging", d.Target)
			}
			if !tc.allowed {
				return
			}
			out := d.Object
			if got := out.Data[resource.DataKey]; got != tc.wantDoc {
				t.Errorf("stored document %q, want %q", got, tc.wantDoc)
			}
			tg := tc.found.Target
			want := map[string]string{
				resource.AnnotationTargetNamespace:       "staging",
				resource.AnnotationTargetUID:             tg.UID,
				resource.AnnotationTargetResourceVersion: tg.ResourceVersion,
				resource.AnnotationDigest:                resource.Digest(tg, tc.wantDoc),
			}
			if !maps.Equal(out.Annotations, want) || out.Labels[resource.LabelDeploymentTarget] != "staging" {
				t.Errorf("stored labels %v annotations %v, want the target label and %v", out.Labels, out.Annotations, want)
			}
		})
	}
}

func TestDeploymentWriteValidate(t *testing.T) {
	target := stagingTarget(t, "  - {op: add, path: /spec/x, value: 1}\n")
	r, dep := deploymentRequest(t, StageMutate, nil, stagingDeployment)
	admitted := DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: target}).Object
	changed := func(f func(c *corev1.ConfigMap)) *corev1.ConfigMap {
		c := admitted.DeepCopy()
		f(c)
		return c
	}
	cases := []struct {
		name    string
		obj     *corev1.ConfigMap
		found   resource.TargetLookup
		allowed bool
		reason  Reason
		says    []string
	}{
		{name: "A deployment as the mutating webhook left it is allowed.",
			obj: admitted, found: resource.TargetLookup{Target: target}, allowed: true},
		{name: "A target gone since the mutating webhook ran is denied.",
			obj: admitted, reason: ReasonTargetNotFound, says: []string{"does not exist"}},
		{name: "A target label that disagrees with the document is denied, pointing at the mutating webhook.",
			obj: changed(func(c *corev1.ConfigMap) { c.Labels[resource.LabelDeploymentTarget] = "production" }), found: resource.TargetLookup{Target: target},
			reason: ReasonInvalid, says: []string{`="production" but references target "staging"`, "leave the label to flinkgate"}},
		{name: "A target namespace annotation that disagrees with the target is denied.",
			obj: changed(func(c *corev1.ConfigMap) { c.Annotations[resource.AnnotationTargetNamespace] = "elsewhere" }), found: resource.TargetLookup{Target: target},
			reason: ReasonInvalid, says: []string{`runs in "staging"`, "leave the annotation to flinkgate"}},
		{name: "A document rewritten after the mutating webhook ran is denied, naming the digest annotation.",
			obj: changed(func(c *corev1.ConfigMap) { c.Data[resource.DataKey] = stagingDeployment }), found: resource.TargetLookup{Target: target},
			reason: ReasonInvalid, says: []string{"is not the document flinkgate patched", resource.AnnotationDigest}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dep, err := configmap.ParseDeployment(context.Background(), tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			r := Request{Stage: StageValidate, Operation: Create, Namespace: tc.obj.Namespace, Name: tc.obj.Name, New: tc.obj, PlatformNamespace: "flink-platform"}
			wantDecision(t, DeploymentWriteValidate(r, dep, tc.found), tc.allowed, tc.reason, tc.says...)
		})
	}
}

func TestInvalidDeployment(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason Reason
		says   []string
	}{
		{name: "A document that does not parse is invalid, naming the deployment and why.",
			err: errors.New("spec.deploymentTargetName is missing"), reason: ReasonInvalid, says: []string{`invalid Deployment "d"`, "spec.deploymentTargetName is missing"}},
		{name: "A document beyond a bound is too large, pointing at the bounds.",
			err: &resource.TooLargeError{}, reason: ReasonTooLarge, says: []string{`deployment "d" is too large`, BoundsDoc}},
		{name: "A request whose deadline passed is unavailable, saying to try again.",
			err: context.Canceled, reason: ReasonUnavailable, says: []string{"try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := deploymentRequest(t, StageMutate, nil, stagingDeployment)
			wantDecision(t, InvalidDeployment(r, tc.err), false, tc.reason, tc.says...)
		})
	}
}
