package policy

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// The mutating rule copies the request's object shallowly, so it must
// replace, never write into, the maps it shares with it.
func TestDeploymentWriteMutateLeavesTheRequestsObjectAsItWas(t *testing.T) {
	target, err := configmap.ParseTarget(context.Background(), &corev1.ConfigMap{
		ObjectMeta: cm("staging", resource.KindTarget).ObjectMeta,
		Data: map[string]string{resource.DataKey: "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n" +
			"  deploymentPatchSet:\n  - {op: add, path: /spec/x, value: y}\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	target.UID, target.ResourceVersion = "uid-1", "7"
	cases := []struct {
		name   string
		labels map[string]string
		annots map[string]string
	}{
		{name: "an object with labels and annotations keeps them unchanged", labels: map[string]string{resource.LabelKind: resource.KindDeployment, "a": "b"}, annots: map[string]string{"note": "n"}},
		{name: "an object without annotations keeps none", labels: map[string]string{resource.LabelKind: resource.KindDeployment}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := cm("d", "")
			obj.Labels, obj.Annotations = tc.labels, tc.annots
			obj.Data = map[string]string{resource.DataKey: "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"}
			obj.Finalizers = []string{"example.com/f"}
			before := obj.DeepCopy()
			dep, err := configmap.ParseDeployment(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			d := DeploymentWriteMutate(context.Background(), Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: obj.Name, New: obj}, dep, resource.TargetLookup{Target: target})
			if !d.Allowed || d.Object == nil {
				t.Fatalf("got %+v, want an allowed object", d)
			}
			if !reflect.DeepEqual(obj, before) {
				t.Errorf("the request's object changed:\n%+v\nwas\n%+v", obj, before)
			}
			if d.Object.Labels[resource.LabelDeploymentTarget] != "staging" || d.Object.Annotations[resource.AnnotationTargetUID] != "uid-1" || d.Object.Data[resource.DataKey] == before.Data[resource.DataKey] {
				t.Errorf("the stored object lacks the target's record or the patched document: %+v", d.Object)
			}
		})
	}
}
