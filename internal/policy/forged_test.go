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

func TestATerminatingDeploymentCannotChangeTheFlinkRecordUnchecked(t *testing.T) {
	old := cm("d", resource.KindDeployment)
	old.Labels[resource.LabelDeploymentTarget] = "staging"
	old.Annotations = map[string]string{"flinkgate.io/state": "TRANSITIONING", "flinkgate.io/status": "{}", resource.AnnotationTargetNamespace: "team-a"}
	with := func(change func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := terminating(old)
		c.Annotations = map[string]string{}
		for k, v := range old.Annotations {
			c.Annotations[k] = v
		}
		change(c)
		return c
	}
	on := FlinkOperator{On: true, ServiceAccount: "flink"}
	cases := []struct {
		name     string
		new      *corev1.ConfigMap
		operator FlinkOperator
		byUs     bool
		want     Rule
	}{
		{name: "With the operator on, a user's forged state on a deployment being deleted goes to the deployment write rule, which denies it.",
			new: with(func(c *corev1.ConfigMap) { c.Annotations["flinkgate.io/state"] = "RUNNING" }), operator: on, want: RuleDeploymentWrite},
		{name: "With the operator on, a user's removal of the status from a deployment being deleted goes to the deployment write rule.",
			new: with(func(c *corev1.ConfigMap) { delete(c.Annotations, "flinkgate.io/status") }), operator: on, want: RuleDeploymentWrite},
		{name: "With the operator on, a user's change of the recorded target namespace of a deployment being deleted goes to the deployment write rule.",
			new: with(func(c *corev1.ConfigMap) { c.Annotations[resource.AnnotationTargetNamespace] = "elsewhere" }), operator: on, want: RuleDeploymentWrite},
		{name: "With the operator on, a user's removal of a finalizer from a deployment being deleted is allowed at once.",
			new: with(func(c *corev1.ConfigMap) { c.Finalizers = nil }), operator: on},
		{name: "With the operator on, flinkgate's own write of a deployment being deleted is allowed at once.",
			new: with(func(c *corev1.ConfigMap) { c.Annotations["flinkgate.io/state"] = "RUNNING" }), operator: on, byUs: true},
		{name: "With the operator off, the annotations of a deployment being deleted stay a user's to change.",
			new: with(func(c *corev1.ConfigMap) { c.Annotations["flinkgate.io/state"] = "RUNNING" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(Request{Stage: StageValidate, Operation: Update, Old: old, New: tc.new, FlinkOperator: tc.operator, ByFlinkgate: tc.byUs})
			if got.Rule != tc.want {
				t.Errorf("Classify = rule %d, want %d", got.Rule, tc.want)
			}
		})
	}
}
