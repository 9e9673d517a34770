package flinkcluster

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestStateFollowsTheContractsMapping(t *testing.T) {
	cases := []struct {
		name      string
		status    map[string]any // nil: no status yet
		gen       int64
		cancelled bool
		want      string
	}{
		{name: "A FlinkDeployment without a status yet is transitioning.", want: StateTransitioning},
		{name: "A running job is RUNNING.", status: job("RUNNING"), want: StateRunning},
		{name: "A failed job is FAILED.", status: job("FAILED"), want: StateFailed},
		{name: "A failing job is FAILED.", status: job("FAILING"), want: StateFailed},
		{name: "A finished job is FINISHED.", status: job("FINISHED"), want: StateFinished},
		{name: "A canceled job is CANCELLED.", status: job("CANCELED"), want: StateCancelled},
		{name: "A cancelling job is CANCELLED.", status: job("CANCELLING"), want: StateCancelled},
		{name: "A suspended job is SUSPENDED.", status: job("SUSPENDED"), want: StateSuspended},
		{name: "A suspended lifecycle is SUSPENDED.", status: map[string]any{"lifecycleState": "SUSPENDED"}, want: StateSuspended},
		{name: "A failed lifecycle is FAILED.", status: map[string]any{"lifecycleState": "FAILED"}, want: StateFailed},
		{name: "A job manager deployment in ERROR is FAILED.", status: map[string]any{"jobManagerDeploymentStatus": "ERROR", "lifecycleState": "DEPLOYED"}, want: StateFailed},
		{name: "A job that is being created is transitioning.", status: job("CREATED"), want: StateTransitioning},
		{name: "A job that is restarting is transitioning.", status: job("RESTARTING"), want: StateTransitioning},
		{name: "A status with no job state and a stable lifecycle is transitioning.", status: map[string]any{"lifecycleState": "STABLE"}, want: StateTransitioning},
		{name: "A running job whose status is of an older generation is transitioning.", status: withGen(job("RUNNING"), 1), gen: 2, want: StateTransitioning},
		{name: "A running job whose status is of the current generation is RUNNING.", status: withGen(job("RUNNING"), 2), gen: 2, want: StateRunning},
		{name: "A suspended job of a Deployment that asks for CANCELLED is CANCELLED.", status: job("SUSPENDED"), cancelled: true, want: StateCancelled},
		{name: "A suspended lifecycle of a Deployment that asks for CANCELLED is CANCELLED.", status: map[string]any{"lifecycleState": "SUSPENDED"}, cancelled: true, want: StateCancelled},
		{name: "A running job of a Deployment that asks for CANCELLED stays RUNNING until the operator suspends it.", status: job("RUNNING"), cancelled: true, want: StateRunning},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x"}}}
			fd.SetGeneration(tc.gen)
			if tc.status != nil {
				fd.Object["status"] = tc.status
			}
			if got := State(Observe(fd), tc.cancelled); got != tc.want {
				t.Errorf("State = %s, want %s", got, tc.want)
			}
		})
	}
}

func job(state string) map[string]any {
	return map[string]any{"jobStatus": map[string]any{"state": state}}
}

func withGen(s map[string]any, gen int64) map[string]any {
	s["observedGeneration"] = gen
	return s
}

func TestStatusJSONStaysWithinItsBounds(t *testing.T) {
	cases := []struct {
		name      string
		o         Observed
		savepoint string
	}{
		{name: "A megabyte of error text is cut to the error bound.", o: Observed{Error: strings.Repeat("x", 1<<20), JobID: "abc"}},
		{name: "An error of quotes and control characters, which JSON escapes, still fits.", o: Observed{Error: strings.Repeat("\"\x01<", 1<<16)}},
		{name: "Multi-byte characters are cut at a character boundary.", o: Observed{Error: strings.Repeat("é", 4000)}},
		{name: "Every field at its longest still fits.", o: Observed{Error: strings.Repeat("\x02", 1<<16), JobID: strings.Repeat("\x03", 1<<16), LifecycleState: strings.Repeat("\x04", 1<<10), JobState: strings.Repeat("\x05", 1<<10), ObservedGeneration: 1 << 62}, savepoint: strings.Repeat("\x06", 1<<16)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := StatusJSON(tc.o, tc.savepoint)
			if len(s) > MaxStatusBytes {
				t.Errorf("status is %d bytes, more than %d", len(s), MaxStatusBytes)
			}
			var got Status
			if err := json.Unmarshal([]byte(s), &got); err != nil {
				t.Fatalf("status is not JSON: %v", err)
			}
			if len(got.Error) > MaxErrorBytes || !utf8.ValidString(got.Error) {
				t.Errorf("error is %d bytes (valid UTF-8: %t), want at most %d", len(got.Error), utf8.ValidString(got.Error), MaxErrorBytes)
			}
		})
	}
}

func TestStatusJSONLeavesEmptyFieldsOut(t *testing.T) {
	got := StatusJSON(Observed{HasStatus: true, JobID: "j1", JobState: "RUNNING", ObservedGeneration: 3}, "")
	if want := `{"jobId":"j1","jobState":"RUNNING","observedGeneration":3}`; got != want {
		t.Errorf("StatusJSON = %s, want %s", got, want)
	}
}

func TestLastSavepointIsTheNewestCompletedSavepoint(t *testing.T) {
	snap := func(name, state, path, at string, checkpoint bool) *unstructured.Unstructured {
		spec := map[string]any{"jobReference": map[string]any{"kind": "FlinkDeployment", "name": "job"}}
		if checkpoint {
			spec["checkpoint"] = map[string]any{}
		} else {
			spec["savepoint"] = map[string]any{}
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": name}, "spec": spec,
			"status": map[string]any{"state": state, "path": path, "resultTimestamp": at},
		}}
	}
	cases := []struct {
		name  string
		snaps []*unstructured.Unstructured
		want  string
	}{
		{name: "No snapshot gives no savepoint.", want: ""},
		{name: "The newest completed savepoint wins over an older one.", snaps: []*unstructured.Unstructured{
			snap("a", "COMPLETED", "s3://old", "2026-01-01T00:00:00Z", false), snap("b", "COMPLETED", "s3://new", "2026-01-02T00:00:00Z", false),
		}, want: "s3://new"},
		{name: "A newer savepoint still in progress is not the last savepoint.", snaps: []*unstructured.Unstructured{
			snap("a", "COMPLETED", "s3://done", "2026-01-01T00:00:00Z", false), snap("b", "IN_PROGRESS", "", "2026-01-02T00:00:00Z", false),
		}, want: "s3://done"},
		{name: "A newer checkpoint is not a savepoint.", snaps: []*unstructured.Unstructured{
			snap("a", "COMPLETED", "s3://savepoint", "2026-01-01T00:00:00Z", false), snap("b", "COMPLETED", "s3://checkpoint", "2026-01-02T00:00:00Z", true),
		}, want: "s3://savepoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := LastSavepoint(tc.snaps); got != tc.want {
				t.Errorf("LastSavepoint = %q, want %q", got, tc.want)
			}
		})
	}
}
