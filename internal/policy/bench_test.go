package policy

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/benchdata"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// BenchmarkDeploymentCreateMutate measures what the mutating webhook does
// below HTTP for the load benchmark's deployment CREATE (cmd/loadbench):
// parse the deployment, apply the stored target's 10 adds, write the
// document and the record of the target (digest included).
func BenchmarkDeploymentCreateMutate(b *testing.B) {
	target, err := configmap.ParseTarget(context.Background(), &corev1.ConfigMap{ObjectMeta: cm("staging", resource.KindTarget).ObjectMeta, Data: map[string]string{resource.DataKey: benchdata.TargetDocument()}})
	if err != nil {
		b.Fatal(err)
	}
	target.UID, target.ResourceVersion = "8c1e4a2b-3d5f-4e6a-9b7c-0d1e2f3a4b5c", "412"
	obj := cm("top-speed-windowing", resource.KindDeployment)
	obj.Labels["app.kubernetes.io/part-of"] = "flink-bench"
	obj.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 900)}
	obj.Data = map[string]string{resource.DataKey: benchdata.DeploymentDocument}
	r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: obj.Name, New: obj, PlatformNamespace: "flink-platform"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		dep, err := configmap.ParseDeployment(ctx, obj)
		if err != nil {
			b.Fatal(err)
		}
		if d := DeploymentWriteMutate(ctx, r, dep, resource.TargetLookup{Target: target}); !d.Allowed {
			b.Fatalf("denied: %s", d.Message)
		}
	}
}

// BenchmarkDeploymentCreateValidate measures the validating webhook's rule
// for the load benchmark's deployment CREATE (with a Flink version) as the
// mutating one stored it, with the Flink operator off and on (which
// translates the document).
func BenchmarkDeploymentCreateValidate(b *testing.B) {
	target, err := configmap.ParseTarget(context.Background(), &corev1.ConfigMap{ObjectMeta: cm("staging", resource.KindTarget).ObjectMeta, Data: map[string]string{resource.DataKey: benchdata.TargetDocument()}})
	if err != nil {
		b.Fatal(err)
	}
	target.UID, target.ResourceVersion = "8c1e4a2b-3d5f-4e6a-9b7c-0d1e2f3a4b5c", "412"
	obj := cm("top-speed-windowing", resource.KindDeployment)
	// With a Flink version, the document becomes a FlinkDeployment.
	doc := strings.Replace(benchdata.DeploymentDocument, "        kind: jar\n", "        kind: jar\n        flinkVersion: \"1.20\"\n", 1)
	obj.Data = map[string]string{resource.DataKey: doc}
	ctx := context.Background()
	found := resource.TargetLookup{Target: target}
	r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: obj.Name, New: obj, PlatformNamespace: "flink-platform"}
	dep, err := configmap.ParseDeployment(ctx, obj)
	if err != nil {
		b.Fatal(err)
	}
	stored := DeploymentWriteMutate(ctx, r, dep, found).Object
	for _, flink := range []FlinkOperator{{}, {On: true, ServiceAccount: "flink"}} {
		name := "off"
		if flink.On {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			r := Request{Stage: StageValidate, Operation: Create, Namespace: stored.Namespace, Name: stored.Name, New: stored, PlatformNamespace: "flink-platform", FlinkOperator: flink}
			b.ReportAllocs()
			for b.Loop() {
				dep, err := configmap.ParseDeployment(ctx, stored)
				if err != nil {
					b.Fatal(err)
				}
				if d := DeploymentWriteValidate(r, dep, found); !d.Allowed {
					b.Fatalf("denied: %s", d.Message)
				}
			}
		})
	}
}
