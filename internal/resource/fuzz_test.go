package resource_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/resource"
)

// FuzzPatched runs a target document and a deployment document through the
// whole domain path (parse both, apply the patch set, encode the result)
// and fails when one request allocates more than budget.MaxAlloc or takes
// longer than budget.MaxTime.
func FuzzPatched(f *testing.F) {
	f.Add("kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/a, value: s3://b}\n",
		"kind: Deployment\nspec:\n  deploymentTargetName: t\n  template: {spec: {parallelism: 2}}\n")
	f.Add(`{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":[{"op":"copy","from":"/spec","path":"/spec/x"},{"op":"test","path":"/spec/n","value":9007199254740993}]}}`,
		`{"kind":"Deployment","spec":{"deploymentTargetName":"t","n":9007199254740992}}`)
	f.Add("kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: /<<, value: {yes: no}}\n",
		"kind: Deployment\nspec: {deploymentTargetName: t, l: [1, 2]}\n")
	// Hostile shapes: hundreds of copies of a long string, inserts at the
	// front of a long list, a patch that nests the document too deeply.
	copies := "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: /spec/blob, value: " + strings.Repeat("x", 5<<10) + "}\n"
	fronts := "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n"
	for i := range 200 {
		copies += fmt.Sprintf("  - {op: copy, from: /spec/blob, path: /spec/c%d}\n", i)
		fronts += "  - {op: add, path: /spec/l/0, value: 1}\n"
	}
	f.Add(copies, "kind: Deployment\nspec: {deploymentTargetName: t}\n")
	f.Add(fronts, `{"kind":"Deployment","spec":{"deploymentTargetName":"t","l":[`+strings.Repeat("0,", 10000)+"0]}}")
	f.Add("kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: "+strings.Repeat("/n", 60)+", value: [[[[[[[[1]]]]]]]]}\n",
		"kind: Deployment\nspec: {deploymentTargetName: t}\n")
	f.Fuzz(func(t *testing.T, target, deployment string) {
		ctx := context.Background()
		u := budget.Measure(func() {
			tg, err := resource.ParseTarget(ctx, resource.Object{Name: "t", Namespace: "ns", Data: map[string]string{resource.DataKey: target}})
			if err != nil {
				return
			}
			dep, err := resource.ParseDeployment(ctx, resource.Object{Name: "d", Namespace: "ns", Data: map[string]string{resource.DataKey: deployment}})
			if err != nil {
				return
			}
			_, _, _ = dep.Patched(ctx, tg)
		})
		budget.Record(u)
		if !u.Within() {
			t.Fatalf("a %d-byte target and a %d-byte deployment took %s, beyond the budget", len(target), len(deployment), u)
		}
	})
}
