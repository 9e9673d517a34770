package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

func cm(name, kind string) *corev1.ConfigMap {
	c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flink-platform"}, Data: map[string]string{resource.DataKey: "kind: x"}}
	if kind != "" {
		c.Labels = map[string]string{resource.LabelKind: kind}
	}
	return c
}

func terminating(c *corev1.ConfigMap) *corev1.ConfigMap {
	c = c.DeepCopy()
	now := metav1.Now()
	c.DeletionTimestamp = &now
	return c
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name     string
		req      Request
		wantKind string
		wantRule Rule
		// with RuleDone
		wantAllowed bool
		wantReason  Reason
	}{
		{name: "a target create goes to the target create rule",
			req: Request{Stage: StageMutate, Operation: Create, New: cm("t", resource.KindTarget)}, wantKind: resource.KindTarget, wantRule: RuleTargetCreate},
		{name: "adding the target label to a plain ConfigMap is a target create",
			req: Request{Stage: StageValidate, Operation: Update, Old: cm("t", ""), New: cm("t", resource.KindTarget)}, wantKind: resource.KindTarget, wantRule: RuleTargetCreate},
		{name: "any update of a stored target goes to the target update rule, even one that drops the label",
			req: Request{Stage: StageValidate, Operation: Update, Old: cm("t", resource.KindTarget), New: cm("t", "")}, wantKind: resource.KindTarget, wantRule: RuleTargetUpdate},
		{name: "a target delete is checked by the validating webhook",
			req: Request{Stage: StageValidate, Operation: Delete, Old: cm("t", resource.KindTarget)}, wantKind: resource.KindTarget, wantRule: RuleTargetDelete},
		{name: "a target delete is left to the validating webhook by the mutating one",
			req: Request{Stage: StageMutate, Operation: Delete, Old: cm("t", resource.KindTarget)}, wantKind: resource.KindTarget, wantAllowed: true},
		{name: "a deployment delete is allowed",
			req: Request{Stage: StageValidate, Operation: Delete, Old: cm("d", resource.KindDeployment)}, wantKind: resource.KindDeployment, wantAllowed: true},
		{name: "a deployment create goes to the deployment write rule",
			req: Request{Stage: StageMutate, Operation: Create, New: cm("d", resource.KindDeployment)}, wantKind: resource.KindDeployment, wantRule: RuleDeploymentWrite},
		{name: "a deployment update goes to the deployment write rule",
			req: Request{Stage: StageValidate, Operation: Update, Old: cm("d", resource.KindDeployment), New: cm("d", resource.KindDeployment)}, wantKind: resource.KindDeployment, wantRule: RuleDeploymentWrite},
		{name: "a terminating deployment whose data is unchanged is allowed without its patch set",
			req: Request{Stage: StageMutate, Operation: Update, Old: cm("d", resource.KindDeployment), New: terminating(cm("d", resource.KindDeployment))}, wantKind: resource.KindDeployment, wantAllowed: true},
		{name: "a deployment cannot change its kind label",
			req: Request{Stage: StageMutate, Operation: Update, Old: cm("d", resource.KindDeployment), New: cm("d", resource.KindTarget)}, wantKind: resource.KindDeployment, wantReason: ReasonImmutable},
		{name: "a kind label that is not flinkgate's is denied",
			req: Request{Stage: StageMutate, Operation: Create, New: cm("x", "Job")}, wantKind: "Job", wantReason: ReasonInvalid},
		{name: "removing a foreign kind label is allowed",
			req: Request{Stage: StageValidate, Operation: Update, Old: cm("x", "Job"), New: cm("x", "")}, wantKind: "", wantAllowed: true},
		{name: "a create without an object is denied as invalid",
			req: Request{Stage: StageMutate, Operation: Create}, wantKind: "", wantReason: ReasonInvalid},
		{name: "a connect is allowed",
			req: Request{Stage: StageMutate, Operation: "CONNECT", New: cm("x", resource.KindTarget)}, wantKind: resource.KindTarget, wantAllowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.req)
			if got.Kind != tc.wantKind || got.Rule != tc.wantRule {
				t.Fatalf("Classify = kind %q rule %d, want kind %q rule %d", got.Kind, got.Rule, tc.wantKind, tc.wantRule)
			}
			if got.Rule == RuleDone && (got.Decision.Allowed != tc.wantAllowed || got.Decision.Reason != tc.wantReason) {
				t.Errorf("decision = allowed %v reason %q, want allowed %v reason %q", got.Decision.Allowed, got.Decision.Reason, tc.wantAllowed, tc.wantReason)
			}
		})
	}
}
