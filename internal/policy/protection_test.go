package policy

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

func TestFinalizerRemovalWaitsForTheSettleTime(t *testing.T) {
	const settle = 65 * time.Second
	deleted := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	protected := func(deletedAt *time.Time) *corev1.ConfigMap {
		c := cm("staging", resource.KindTarget)
		c.Finalizers = []string{resource.FinalizerInUse}
		if deletedAt != nil {
			ts := metav1.NewTime(*deletedAt)
			c.DeletionTimestamp = &ts
		}
		return c
	}
	stripped := func(c *corev1.ConfigMap) *corev1.ConfigMap {
		c = c.DeepCopy()
		c.Finalizers = nil
		return c
	}
	update := func(old *corev1.ConfigMap, byFlinkgate bool) Request {
		return Request{Stage: StageValidate, Operation: Update, Namespace: "flink-platform", Name: old.Name, Old: old, New: stripped(old), ByFlinkgate: byFlinkgate}
	}
	cases := []struct {
		name     string
		req      Request
		now      time.Time
		denied   bool
		contains string
	}{
		{name: "A user's removal one second after the delete is denied, saying how many seconds remain.",
			req: update(protected(&deleted), false), now: deleted.Add(time.Second), denied: true,
			contains: `the finalizer flinkgate.io/in-use-protection of target "staging" cannot be removed yet: the target has been terminating for 1s, and a deployment admitted just before its deletion may not be stored until it has been terminating for 1m5s; try again in 64 seconds, or let flinkgate remove it`},
		{name: "A user's removal a fraction of a second before the settle time ends is denied, rounding the wait up to a whole second.",
			req: update(protected(&deleted), false), now: deleted.Add(settle - 300*time.Millisecond), denied: true,
			contains: "try again in 1 seconds"},
		{name: "A user's removal once the target has been terminating for the settle time goes on to the live referrer check.",
			req: update(protected(&deleted), false), now: deleted.Add(settle)},
		{name: "A user's removal from a target that is not being deleted is denied, saying the finalizer goes with the delete.",
			req: update(protected(nil), false), now: deleted, denied: true,
			contains: `the finalizer flinkgate.io/in-use-protection of target "staging" cannot be removed while the target is not being deleted; delete the target, and flinkgate removes the finalizer once no deployment references it`},
		{name: "flinkgate's own removal is never held by the settle time, since its controller waited it already.",
			req: update(protected(&deleted), true), now: deleted.Add(time.Second)},
		{name: "A clock behind the deletion timestamp waits the whole settle time.",
			req: update(protected(&deleted), false), now: deleted.Add(-10 * time.Second), denied: true,
			contains: "try again in 65 seconds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, held := FinalizerRemovalSettling(tc.req, tc.now, settle)
			if held != tc.denied {
				t.Fatalf("held = %v, want %v (decision %+v)", held, tc.denied, d)
			}
			if !held {
				return
			}
			if d.Allowed || d.Reason != ReasonReferenced || d.Target != "staging" {
				t.Errorf("decision = %+v, want denied as %s naming staging", d, ReasonReferenced)
			}
			if !strings.Contains(d.Message, tc.contains) {
				t.Errorf("message %q does not contain %q", d.Message, tc.contains)
			}
		})
	}
}
