package resource_test

import (
	"context"
	"testing"

	"flinkgate.io/flinkgate/internal/benchdata"
	"flinkgate.io/flinkgate/internal/resource"
)

// benchTarget is the load benchmark's target (cmd/loadbench): ten adds
// under flinkConfiguration.
func benchTarget(b *testing.B) *resource.Target {
	b.Helper()
	t, err := resource.ParseTarget(context.Background(), resource.Object{Name: "staging", Namespace: "flink", UID: "u", Data: map[string]string{resource.DataKey: benchdata.TargetDocument()}})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkDeploymentMutate measures what the mutating webhook does with a
// deployment below HTTP: parse its document, apply the target's patch set
// and write the patched document.
func BenchmarkDeploymentMutate(b *testing.B) {
	t := benchTarget(b)
	ctx := context.Background()
	obj := resource.Object{Name: "top-speed-windowing", Namespace: "flink", Data: map[string]string{resource.DataKey: benchdata.DeploymentDocument}}
	b.ReportAllocs()
	for b.Loop() {
		dep, err := resource.ParseDeployment(ctx, obj)
		if err != nil {
			b.Fatal(err)
		}
		if _, changed, err := dep.Patched(ctx, t); err != nil || !changed {
			b.Fatalf("patched: changed %v, error %v", changed, err)
		}
	}
}
