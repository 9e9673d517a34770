package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// A ConfigMap that gains the Deployment label was never admitted, so labels
// and annotations it already carried must not count as flinkgate's record.
func TestAnObjectNeverAdmittedAsADeploymentCarriesNoRecord(t *testing.T) {
	dep := &resource.Deployment{Name: "sneaky", TargetName: "staging"}
	target := &resource.Target{Name: "staging", UID: "uid-1"}
	plain := cm("sneaky", "")
	plain.Labels = map[string]string{resource.LabelDeploymentTarget: "staging"}
	plain.Annotations = map[string]string{resource.AnnotationTargetUID: "uid-1",
		resource.AnnotationDigest: resource.Digest(target, plain.Data[resource.DataKey])}
	labelled := plain.DeepCopy()
	labelled.Labels[resource.LabelKind] = resource.KindDeployment
	admitted := labelled.DeepCopy()
	newReference := func(r Request) bool { return NewReference(r, dep) }
	skipsPatchSet := func(r Request) bool { return unchangedSinceAdmitted(r, target) }
	cases := []struct {
		name string
		old  *corev1.ConfigMap
		ask  func(Request) bool
		want bool
	}{
		{name: "a plain ConfigMap's target label does not make the reference old", old: plain, ask: newReference, want: true},
		{name: "a plain ConfigMap's forged digest does not skip the patch set", old: plain, ask: skipsPatchSet, want: false},
		{name: "an admitted deployment's target label makes the reference old", old: admitted, ask: newReference, want: false},
		{name: "an admitted deployment's digest skips the patch set", old: admitted, ask: skipsPatchSet, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ask(Request{Stage: StageMutate, Operation: Update, Old: tc.old, New: labelled}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestATerminatingDeploymentCannotChangeItsTargetLabelUnchecked(t *testing.T) {
	old := cm("d", resource.KindDeployment)
	old.Labels[resource.LabelDeploymentTarget] = "staging"
	relabelled := terminating(old)
	relabelled.Labels[resource.LabelDeploymentTarget] = "other"
	if got := Classify(Request{Stage: StageValidate, Operation: Update, Old: old, New: relabelled}); got.Rule != RuleDeploymentWrite {
		t.Errorf("Classify = rule %d, want the deployment write rule", got.Rule)
	}
}
