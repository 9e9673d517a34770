package policy

import (
	"errors"
	"fmt"
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

func TestRemovesFinalizer(t *testing.T) {
	with := cm("staging", resource.KindTarget)
	with.Finalizers = []string{resource.FinalizerInUse, "example.com/other"}
	without := with.DeepCopy()
	without.Finalizers = []string{"example.com/other"}
	cases := []struct {
		name string
		req  Request
		want bool
	}{
		{name: "A user's update that drops the finalizer removes it.",
			req: Request{Operation: Update, Old: with, New: without}, want: true},
		{name: "flinkgate's own update that drops the finalizer needs no check.",
			req: Request{Operation: Update, Old: with, New: without, ByFlinkgate: true}},
		{name: "An update that keeps the finalizer removes nothing.",
			req: Request{Operation: Update, Old: with, New: with}},
		{name: "An update of a target stored without the finalizer removes nothing.",
			req: Request{Operation: Update, Old: without, New: without}},
		{name: "A delete is not a finalizer removal.",
			req: Request{Operation: Delete, Old: with}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RemovesFinalizer(tc.req); got != tc.want {
				t.Errorf("RemovesFinalizer = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFinalizerRemovalValidate(t *testing.T) {
	old := cm("staging", resource.KindTarget)
	many := make([]string, maxNamedReferrers+1)
	for i := range many {
		many[i] = fmt.Sprintf("d%d", i)
	}
	cases := []struct {
		name        string
		byFlinkgate bool
		referrers   []string
		err         error
		allowed     bool
		reason      Reason
		says        []string
	}{
		{name: "A user may remove the finalizer of a target no deployment references.", allowed: true},
		{name: "flinkgate may always remove it: its controller checked the references.",
			byFlinkgate: true, referrers: []string{"a"}, err: errors.New("not asked"), allowed: true},
		{name: "A user's removal from a referenced target is denied, naming the deployments and the way out.",
			referrers: []string{"a", "b"}, reason: ReasonReferenced, says: []string{"while 2 deployment(s) reference it: a, b", "flinkgate removes it itself"}},
		{name: "A denial names at most ten deployments and counts the rest.",
			referrers: many, reason: ReasonReferenced, says: []string{"d9", "and 1 more"}},
		{name: "A look-up that failed denies as unavailable, saying to try again.",
			err: errors.New("list timed out"), reason: ReasonUnavailable, says: []string{"list timed out", "try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := FinalizerRemovalValidate(Request{Stage: StageValidate, Operation: Update, Name: "staging", Old: old, New: old, ByFlinkgate: tc.byFlinkgate}, tc.referrers, tc.err)
			wantDecision(t, d, tc.allowed, tc.reason, tc.says...)
			if d.Target != "staging" {
				t.Errorf("decision names target %q, want staging", d.Target)
			}
		})
	}
}

func TestNewReference(t *testing.T) {
	dep := &resource.Deployment{Name: "d", TargetName: "staging"}
	admitted := func(target string) *corev1.ConfigMap {
		c := cm("d", resource.KindDeployment)
		if target != "" {
			c.Labels[resource.LabelDeploymentTarget] = target
		}
		return c
	}
	cases := []struct {
		name string
		req  Request
		want bool
	}{
		{name: "A create is a new reference.", req: Request{Operation: Create, New: admitted("")}, want: true},
		{name: "An update that keeps the target is no new reference.", req: Request{Operation: Update, Old: admitted("staging"), New: admitted("staging")}},
		{name: "An update that changes the target is a new reference.", req: Request{Operation: Update, Old: admitted("production"), New: admitted("staging")}, want: true},
		{name: "An update of a deployment stored without the target label is a new reference.", req: Request{Operation: Update, Old: admitted(""), New: admitted("staging")}, want: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewReference(tc.req, dep); got != tc.want {
				t.Errorf("NewReference = %v, want %v", got, tc.want)
			}
		})
	}
}
