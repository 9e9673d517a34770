//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// fakeOperator plays the Apache Flink Kubernetes Operator, which cannot run
// here: it writes a FlinkDeployment's status through the status
// subresource, adds and removes the operator's finalizer, and records
// savepoints as FlinkStateSnapshots, as the operator does. It acts as admin.
type fakeOperator struct{ dc dynamic.Interface }

// operatorStatus is what the operator reports of a FlinkDeployment.
type operatorStatus struct {
	JobID, JobState, LifecycleState, JobManager, Error string
}

// running is a healthy running job's status.
func running(jobID string) operatorStatus {
	return operatorStatus{JobID: jobID, JobState: "RUNNING", LifecycleState: "STABLE", JobManager: "READY"}
}

// suspended is a suspended job's status: the operator deletes the cluster
// and keeps the job's last state.
func suspended(jobID string) operatorStatus {
	return operatorStatus{JobID: jobID, JobState: "SUSPENDED", LifecycleState: "SUSPENDED", JobManager: "MISSING"}
}

// setStatus writes the status (observedGeneration: the object's
// generation, as the operator once it has reconciled the spec), retrying on
// conflicts, and ends the test if it cannot.
func (o fakeOperator) setStatus(t testing.TB, ns, name string, st operatorStatus) {
	t.Helper()
	if !o.trySetStatus(t, ns, name, st) {
		t.FailNow()
	}
}

// trySetStatus is setStatus for a goroutine of its own: it fails t with
// Errorf only, and reports whether it succeeded.
func (o fakeOperator) trySetStatus(t testing.TB, ns, name string, st operatorStatus) bool {
	t.Helper()
	return o.update(t, ns, name, "status "+st.JobState, func(u *unstructured.Unstructured) {
		status := map[string]any{
			"lifecycleState":             st.LifecycleState,
			"jobManagerDeploymentStatus": st.JobManager,
			"observedGeneration":         u.GetGeneration(),
			"jobStatus": map[string]any{
				"jobId":      st.JobID,
				"jobName":    name,
				"state":      st.JobState,
				"updateTime": fmt.Sprint(time.Now().UnixMilli()),
			},
		}
		if st.Error != "" {
			status["error"] = st.Error
		}
		u.Object["status"] = status
	}, func(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		return o.dc.Resource(flinkDeploymentGVR).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	})
}

// addFinalizer adds the operator's finalizer, as the operator does before
// it deploys anything.
func (o fakeOperator) addFinalizer(t testing.TB, ns, name string) {
	t.Helper()
	if !o.update(t, ns, name, "add the operator's finalizer", func(u *unstructured.Unstructured) {
		if f := u.GetFinalizers(); !slices.Contains(f, operatorFinalizer) {
			u.SetFinalizers(append(f, operatorFinalizer))
		}
	}, o.updateMain(ns)) {
		t.FailNow()
	}
}

// removeFinalizer removes the operator's finalizer, as the operator does
// once it has torn the cluster down; a deleted object then goes.
func (o fakeOperator) removeFinalizer(t testing.TB, ns, name string) {
	t.Helper()
	if !o.update(t, ns, name, "remove the operator's finalizer", func(u *unstructured.Unstructured) {
		u.SetFinalizers(slices.DeleteFunc(u.GetFinalizers(), func(f string) bool { return f == operatorFinalizer }))
	}, o.updateMain(ns)) {
		t.FailNow()
	}
}

func (o fakeOperator) updateMain(ns string) func(context.Context, *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return func(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		return o.dc.Resource(flinkDeploymentGVR).Namespace(ns).Update(ctx, u, metav1.UpdateOptions{})
	}
}

// update reads the object, edits it and writes it with write, retrying on
// a conflict with the reconciler's writes. It fails t only with Errorf, so
// it may run on a goroutine of its own, and reports whether it succeeded.
func (o fakeOperator) update(t testing.TB, ns, name, what string, edit func(*unstructured.Unstructured), write func(context.Context, *unstructured.Unstructured) (*unstructured.Unstructured, error)) bool {
	t.Helper()
	var failed error
	ok, why := poll(waitFor, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		u, err := o.dc.Resource(flinkDeploymentGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			failed = err
			return true, nil
		}
		edit(u)
		if _, err := write(ctx, u); apierrors.IsConflict(err) {
			return false, err
		} else if err != nil {
			failed = err
			return true, nil
		}
		return true, nil
	})
	if failed != nil || !ok {
		t.Errorf("fake operator: %s on FlinkDeployment %s/%s: %v %v", what, ns, name, failed, why)
		return false
	}
	return true
}

// snapshot records a savepoint of the FlinkDeployment's job as a
// FlinkStateSnapshot in state (COMPLETED, IN_PROGRESS, FAILED, ...) taken
// at the given time, and returns the snapshot's name.
func (o fakeOperator) snapshot(t testing.TB, ns, fdName, path, state string, at time.Time) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1",
		"kind":       "FlinkStateSnapshot",
		"metadata":   map[string]any{"name": name(fdName + "-savepoint"), "namespace": ns},
		"spec": map[string]any{
			"jobReference": map[string]any{"kind": "FlinkDeployment", "name": fdName},
			"savepoint":    map[string]any{"path": path, "alreadyExists": false, "disposeOnDelete": false},
		},
	}}
	created, err := o.dc.Resource(flinkStateSnapshotGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		t.Fatalf("fake operator: create FlinkStateSnapshot for %s/%s: %v", ns, fdName, err)
	}
	status := map[string]any{"state": state, "triggerTimestamp": at.UTC().Format(time.RFC3339)}
	if state == "COMPLETED" {
		status["path"] = path
		status["resultTimestamp"] = at.UTC().Format(time.RFC3339)
	}
	created.Object["status"] = status
	if _, err := o.dc.Resource(flinkStateSnapshotGVR).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatalf("fake operator: set the status of FlinkStateSnapshot %s/%s: %v", ns, created.GetName(), err)
	}
	return created.GetName()
}
