package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
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
