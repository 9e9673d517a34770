package protection

import (
	"testing"
	"time"

	"flinkgate.io/flinkgate/internal/resource"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { ts := now.Add(-d); return &ts }
	ours := []string{"example.com/keep", resource.FinalizerInUse}
	settle := time.Minute
	many := []string{"d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09", "d10", "d11", "d12"}
	cases := []struct {
		name  string
		in    Input
		want  Action
		after time.Duration
		why   string
	}{
		{name: "a live target without the finalizer gets it",
			in: Input{Finalizers: []string{"example.com/keep"}}, want: AddFinalizer},
		{name: "a live target that carries the finalizer is left alone",
			in: Input{Finalizers: ours}, want: Nothing},
		{name: "a live target in a namespace being deleted does not get the finalizer",
			in: Input{NamespaceTerminating: true}, want: Nothing},
		{name: "a terminating target whose finalizer is not ours is left to its owners",
			in: Input{Finalizers: []string{"example.com/keep"}, DeletionTimestamp: ago(time.Hour), Listed: true}, want: Nothing},
		{name: "a target terminating for less than the settle time waits for the rest of it",
			in: Input{Finalizers: ours, DeletionTimestamp: ago(20 * time.Second), Settle: settle}, want: Wait, after: 40 * time.Second,
			why: "waiting 40s for writes admitted before the deletion to be stored"},
		{name: "a settled terminating target has its referrers listed live before anything is released",
			in: Input{Finalizers: ours, DeletionTimestamp: ago(2 * time.Minute), Settle: settle}, want: List},
		{name: "a settled terminating target that deployments reference keeps the finalizer and names them",
			in:   Input{Finalizers: ours, DeletionTimestamp: ago(2 * time.Minute), Settle: settle, Listed: true, Referrers: []string{"d1", "d2"}},
			want: Wait, why: "still referenced by d1, d2"},
		{name: "a wait names ten referrers and counts the rest",
			in:   Input{Finalizers: ours, DeletionTimestamp: ago(2 * time.Minute), Settle: settle, Listed: true, Referrers: many},
			want: Wait, why: "still referenced by d01, d02, d03, d04, d05, d06, d07, d08, d09, d10 and 2 more"},
		{name: "a settled terminating target that nothing references is released",
			in: Input{Finalizers: ours, DeletionTimestamp: ago(2 * time.Minute), Settle: settle, Listed: true}, want: RemoveFinalizer},
		{name: "a terminating target exactly at the settle time is listed",
			in: Input{Finalizers: ours, DeletionTimestamp: ago(settle), Settle: settle}, want: List},
		{name: "a terminating target in a namespace being deleted is listed without settling",
			in: Input{Finalizers: ours, DeletionTimestamp: ago(time.Second), Settle: settle, NamespaceTerminating: true}, want: List},
		{name: "a terminating target in a namespace being deleted is still not released while referenced",
			in:   Input{Finalizers: ours, DeletionTimestamp: ago(time.Second), Settle: settle, NamespaceTerminating: true, Listed: true, Referrers: []string{"d1"}},
			want: Wait, why: "still referenced by d1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			got := Decide(in)
			if got.Action != tc.want || got.RequeueAfter != tc.after || got.Reason != tc.why {
				t.Errorf("Decide = {%s %q %s}, want {%s %q %s}", got.Action, got.Reason, got.RequeueAfter, tc.want, tc.why, tc.after)
			}
		})
	}
}
