package main

import (
	"context"
	"fmt"
	"io"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var flinkDeployments = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}

// pretendEvery is how often the pretend operator looks for new specs.
const pretendEvery = 500 * time.Millisecond

// pretendOperator stands in for the Apache Flink Kubernetes Operator, which
// the demo cannot run: whenever a FlinkDeployment's spec is newer than its
// status (status.observedGeneration behind metadata.generation), it
// reports the job RUNNING (or SUSPENDED, if the spec says so) through the
// status subresource, as the operator would once the cluster is up. Nothing
// runs: the states are pretend. It returns when ctx ends.
func pretendOperator(ctx context.Context, dc dynamic.Interface, log io.Writer) {
	tick := time.NewTicker(pretendEvery)
	defer tick.Stop()
	for {
		l, err := dc.Resource(flinkDeployments).List(ctx, metav1.ListOptions{})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(log, "devcluster: pretend operator: list flinkdeployments: %v\n", err)
		}
		if l != nil {
			for i := range l.Items {
				pretendReconcile(ctx, dc, &l.Items[i], log)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func pretendReconcile(ctx context.Context, dc dynamic.Interface, fd *unstructured.Unstructured, log io.Writer) {
	observed, _, _ := unstructured.NestedInt64(fd.Object, "status", "observedGeneration")
	if fd.GetDeletionTimestamp() != nil || observed == fd.GetGeneration() {
		return
	}
	jobState, lifecycle, jm := "RUNNING", "STABLE", "READY"
	if want, _, _ := unstructured.NestedString(fd.Object, "spec", "job", "state"); want == "suspended" {
		jobState, lifecycle, jm = "SUSPENDED", "SUSPENDED", "MISSING"
	}
	fd.Object["status"] = map[string]any{
		"lifecycleState":             lifecycle,
		"jobManagerDeploymentStatus": jm,
		"observedGeneration":         fd.GetGeneration(),
		"jobStatus": map[string]any{
			// A job id is 32 hex digits; the UID's are as good as any.
			"jobId":   pretendJobID(string(fd.GetUID())),
			"jobName": fd.GetName(),
			"state":   jobState,
		},
	}
	if _, err := dc.Resource(flinkDeployments).Namespace(fd.GetNamespace()).UpdateStatus(ctx, fd, metav1.UpdateOptions{}); err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(log, "devcluster: pretend operator: status of %s/%s: %v\n", fd.GetNamespace(), fd.GetName(), err)
		}
		return
	}
	fmt.Fprintf(log, "devcluster: pretend operator: reported FlinkDeployment %s/%s %s (generation %d; nothing runs)\n", fd.GetNamespace(), fd.GetName(), jobState, fd.GetGeneration())
}

func pretendJobID(uid string) string {
	id := make([]byte, 0, 32)
	for i := 0; i < len(uid) && len(id) < 32; i++ {
		if uid[i] != '-' {
			id = append(id, uid[i])
		}
	}
	return string(id)
}
