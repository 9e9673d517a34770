package flinkcluster

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The states flinkgate.io/state takes, and UNKNOWN for the gauge of a
// Deployment whose FlinkDeployment could not be read or written.
const (
	StateRunning       = "RUNNING"
	StateTransitioning = "TRANSITIONING"
	StateSuspended     = "SUSPENDED"
	StateCancelled     = "CANCELLED"
	StateFailed        = "FAILED"
	StateFinished      = "FINISHED"
	StateUnknown       = "UNKNOWN"
)

// States are the values of flinkgate_flink_deployments' state label.
var States = []string{StateRunning, StateTransitioning, StateSuspended, StateCancelled, StateFailed, StateFinished, StateUnknown}

// Bounds of the status annotation: the whole JSON, the error text in it,
// and every other string in it.
const (
	MaxStatusBytes = 4096
	MaxErrorBytes  = 1024
	maxFieldBytes  = 512
	maxEnumBytes   = 64
)

// Observed is what the state mapping reads of a FlinkDeployment.
type Observed struct {
	// HasStatus is false until the operator has written a status.
	HasStatus                  bool
	Generation                 int64
	ObservedGeneration         int64 // 0: not reported
	LifecycleState             string
	JobState                   string
	JobManagerDeploymentStatus string
	JobID                      string
	Error                      string
}

// Observe reads a FlinkDeployment's metadata.generation and status.
func Observe(fd *unstructured.Unstructured) Observed {
	o := Observed{Generation: fd.GetGeneration()}
	status, ok := fd.Object["status"].(map[string]any)
	if !ok || len(status) == 0 {
		return o
	}
	o.HasStatus = true
	o.ObservedGeneration, _, _ = unstructured.NestedInt64(status, "observedGeneration")
	o.LifecycleState, _, _ = unstructured.NestedString(status, "lifecycleState")
	o.JobManagerDeploymentStatus, _, _ = unstructured.NestedString(status, "jobManagerDeploymentStatus")
	o.JobState, _, _ = unstructured.NestedString(status, "jobStatus", "state")
	o.JobID, _, _ = unstructured.NestedString(status, "jobStatus", "jobId")
	o.Error, _, _ = unstructured.NestedString(status, "error")
	return o
}

// State maps a FlinkDeployment's status to flinkgate.io/state (the
// contract's table). cancelled is set when the Deployment asks for
// CANCELLED, which the translation turns into a suspended job: the
// operator then says SUSPENDED, and the Deployment's owner reads CANCELLED.
// A status not reporting observedGeneration is taken as current.
func State(o Observed, cancelled bool) string {
	suspended := StateSuspended
	if cancelled {
		suspended = StateCancelled
	}
	switch {
	case !o.HasStatus:
		return StateTransitioning
	case o.ObservedGeneration > 0 && o.ObservedGeneration < o.Generation:
		// The operator has not seen the spec flinkgate wrote last.
		return StateTransitioning
	}
	switch o.JobState {
	case "RUNNING":
		return StateRunning
	case "FAILED", "FAILING":
		return StateFailed
	case "FINISHED":
		return StateFinished
	case "CANCELED", "CANCELLING":
		return StateCancelled
	case "SUSPENDED":
		return suspended
	}
	switch {
	case o.LifecycleState == "SUSPENDED":
		return suspended
	case o.LifecycleState == "FAILED", o.JobManagerDeploymentStatus == "ERROR":
		return StateFailed
	}
	return StateTransitioning
}

// Status is the JSON of flinkgate.io/status; empty fields are left out.
type Status struct {
	JobID              string `json:"jobId,omitempty"`
	LifecycleState     string `json:"lifecycleState,omitempty"`
	JobState           string `json:"jobState,omitempty"`
	Error              string `json:"error,omitempty"`
	LastSavepoint      string `json:"lastSavepoint,omitempty"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
}

// StatusJSON is the bounded flinkgate.io/status: the error text is cut to
// MaxErrorBytes, the savepoint path and job id to 512 bytes, the states to
// 64, always at a character boundary, so the whole stays within
// MaxStatusBytes (JSON escaping at most sextuples a byte only for control
// characters, which are escaped before cutting; see truncate).
func StatusJSON(o Observed, lastSavepoint string) string {
	s := Status{
		JobID:              truncate(o.JobID, maxFieldBytes),
		LifecycleState:     truncate(o.LifecycleState, maxEnumBytes),
		JobState:           truncate(o.JobState, maxEnumBytes),
		Error:              truncate(o.Error, MaxErrorBytes),
		LastSavepoint:      truncate(lastSavepoint, maxFieldBytes),
		ObservedGeneration: o.ObservedGeneration,
	}
	b, err := json.Marshal(s)
	if err != nil || len(b) > MaxStatusBytes {
		// Escapes (quotes, control characters, <>&) can grow the cut
		// strings; the error text is the one that can be long.
		s.Error = truncate(o.Error, MaxErrorBytes/8)
		b, _ = json.Marshal(s)
	}
	if len(b) > MaxStatusBytes {
		s.Error, s.LastSavepoint, s.JobID = "", truncate(lastSavepoint, maxFieldBytes/8), truncate(o.JobID, maxFieldBytes/8)
		b, _ = json.Marshal(s)
	}
	return string(b)
}

// truncate cuts s to at most n bytes at a character boundary, marking a cut
// with "…" (within the n bytes).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// snapshotTime is when a FlinkStateSnapshot completed: status.resultTimestamp
// (RFC 3339), else its creation.
func snapshotTime(s *unstructured.Unstructured) time.Time {
	if ts, _, _ := unstructured.NestedString(s.Object, "status", "resultTimestamp"); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			return t
		}
	}
	return s.GetCreationTimestamp().Time
}

// LastSavepoint is the path of the newest completed savepoint among a
// FlinkDeployment's FlinkStateSnapshots (checkpoints are not savepoints),
// empty when there is none.
func LastSavepoint(snapshots []*unstructured.Unstructured) string {
	var best *unstructured.Unstructured
	var bestAt time.Time
	for _, s := range snapshots {
		state, _, _ := unstructured.NestedString(s.Object, "status", "state")
		path, _, _ := unstructured.NestedString(s.Object, "status", "path")
		if _, checkpoint, _ := unstructured.NestedFieldNoCopy(s.Object, "spec", "checkpoint"); state != "COMPLETED" || path == "" || checkpoint {
			continue
		}
		at := snapshotTime(s)
		if best == nil || at.After(bestAt) || (at.Equal(bestAt) && s.GetName() > best.GetName()) {
			best, bestAt = s, at
		}
	}
	if best == nil {
		return ""
	}
	path, _, _ := unstructured.NestedString(best.Object, "status", "path")
	return path
}
