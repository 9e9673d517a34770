package resource_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/resource"
)

// benchTarget is the load benchmark's target (cmd/loadbench): ten adds
// under flinkConfiguration.
func benchTarget(b *testing.B) *resource.Target {
	b.Helper()
	var doc strings.Builder
	doc.WriteString("kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: staging\n  deploymentPatchSet:\n")
	for i := range 10 {
		fmt.Fprintf(&doc, "  - op: add\n    path: /spec/template/spec/flinkConfiguration/bench.key%d\n    value: value-%d\n", i, i)
	}
	t, err := resource.ParseTarget(resource.Object{Name: "staging", Namespace: "flink", UID: "u", Data: map[string]string{resource.DataKey: doc.String()}})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// benchDeployment is the load benchmark's deployment document.
const benchDeployment = `kind: Deployment
spec:
  deploymentTargetName: staging
  template:
    spec:
      artifact:
        kind: jar
        jarUri: https://repo1.maven.org/maven2/org/apache/flink/flink-examples-streaming/1.20.0/flink-examples-streaming-1.20.0-TopSpeedWindowing.jar
      parallelism: 2
      flinkConfiguration:
        taskmanager.numberOfTaskSlots: "2"
`

// BenchmarkDeploymentMutate measures what the mutating webhook does with a
// deployment below HTTP: parse its document, apply the target's patch set
// and write the patched document.
func BenchmarkDeploymentMutate(b *testing.B) {
	t := benchTarget(b)
	ctx := context.Background()
	obj := resource.Object{Name: "top-speed-windowing", Namespace: "flink", Data: map[string]string{resource.DataKey: benchDeployment}}
	b.ReportAllocs()
	for b.Loop() {
		dep, err := resource.ParseDeploymentContext(ctx, obj)
		if err != nil {
			b.Fatal(err)
		}
		if _, changed, err := dep.PatchedContext(ctx, t); err != nil || !changed {
			b.Fatalf("patched: changed %v, error %v", changed, err)
		}
	}
}
