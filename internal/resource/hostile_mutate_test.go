package resource_test

import (
	"context"
	"testing"

	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/patchset"
	"flinkgate.io/flinkgate/internal/resource"
)

// FuzzPatchedDecidesAsACopyWould holds Patched, which tells a changed
// document by its value count and reads the document again only on an
// equal count, to the plain way: copy the tree, apply, compare, and write
// the tree only when it changed. Any wrong count shows as a document
// rewritten though unchanged (or the reverse).
func FuzzPatchedDecidesAsACopyWould(f *testing.F) {
	f.Add(`{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":[{"op":"add","path":"/spec/a","value":1},{"op":"remove","path":"/spec/a"}]}}`,
		"kind: Deployment\nspec: {deploymentTargetName: t, a: 1.0}\n")
	f.Add(`{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":[{"op":"replace","path":"/spec/l/0","value":1.0},{"op":"move","from":"/spec/l/1","path":"/spec/l/0"}]}}`,
		`{"kind":"Deployment","spec":{"deploymentTargetName":"t","l":[1,[2]]}}`)
	f.Add(`{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":[{"op":"copy","from":"/spec/m","path":"/spec/n"},{"op":"remove","path":"/spec/m"},{"op":"move","from":"/spec/n","path":"/spec/m"}]}}`,
		"kind: Deployment\n# kept\nspec:\n  deploymentTargetName: t\n  m: {k: yes, '': ~}\n")
	f.Add(`{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":[{"op":"add","path":"/spec/x~1y/~0","value":{"":[]}},{"op":"test","path":"/spec/x~1y","value":{"~":{"":[]}}}]}}`,
		"kind: Deployment\nspec:\n  deploymentTargetName: t\n")
	f.Fuzz(func(t *testing.T, target, deployment string) {
		ctx := context.Background()
		tg, err := resource.ParseTarget(ctx, resource.Object{Name: "t", Namespace: "ns", Data: map[string]string{resource.DataKey: target}})
		if err != nil || len(tg.PatchSet) == 0 {
			return
		}
		obj := resource.Object{Name: "d", Namespace: "ns", Data: map[string]string{resource.DataKey: deployment}}
		dep, err := resource.ParseDeployment(ctx, obj)
		if err != nil {
			return
		}
		out, changed, err := dep.Patched(ctx, tg)
		if err != nil {
			return
		}
		ref, err := resource.ParseDeployment(ctx, obj)
		if err != nil {
			t.Fatalf("the deployment read once does not read again: %v", err)
		}
		before := jsonvalue.DeepCopy(ref.Doc.Tree)
		after, err := patchset.Apply(ctx, ref.Doc.Tree, tg.PatchSet, patchset.Limits{MaxBytes: codec.MaxDocumentBytes, MaxValues: codec.MaxValues})
		if err != nil {
			t.Fatalf("Patched applied the patch set, the reference failed: %v", err)
		}
		want, wantChanged := deployment, !jsonvalue.Equal(before, after)
		if wantChanged {
			if want, err = ref.Doc.Encode(ctx, after); err != nil {
				t.Fatalf("Patched wrote the document, the reference cannot: %v", err)
			}
		}
		if changed != wantChanged || out != want {
			t.Errorf("got changed %v and\n%s\nwant changed %v and\n%s", changed, out, wantChanged, want)
		}
	})
}
