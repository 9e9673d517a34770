package check

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"flinkgate.io/flinkgate/internal/resource"
)

func targetCM(name, kindLabel, doc string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "flink-platform", Labels: map[string]string{}},
		Data:       map[string]string{resource.DataKey: doc},
	}
	if kindLabel != "" {
		cm.Labels[resource.LabelKind] = kindLabel
	}
	return cm
}

func TestClusterLookup(t *testing.T) {
	const staging = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	cases := []struct {
		name        string
		stored      []runtime.Object
		failGets    bool
		lookup      string
		wantTarget  bool
		wantErr     bool
		wantInvalid bool
	}{
		{name: "A stored target is parsed.", stored: []runtime.Object{targetCM("staging", resource.KindTarget, staging)}, lookup: "staging", wantTarget: true},
		{name: "A target that is not stored is reported missing, without an error.", lookup: "staging"},
		{name: "A ConfigMap of that name without the target label is not a target.", stored: []runtime.Object{targetCM("staging", "", staging)}, lookup: "staging"},
		{name: "A stored target that does not parse is reported invalid.", stored: []runtime.Object{targetCM("staging", resource.KindTarget, "kind: DeploymentTarget\nspec: {}\n")}, lookup: "staging", wantErr: true, wantInvalid: true},
		{name: "An API server that does not answer is an error, not a missing target.", failGets: true, lookup: "staging", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.stored...)
			if tc.failGets {
				client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, errors.New("connection refused")
				})
			}
			got := Cluster{Client: client}.Target(context.Background(), "flink-platform", tc.lookup)
			if (got.Target != nil) != tc.wantTarget || (got.Err != nil) != tc.wantErr {
				t.Fatalf("got target %v, err %v; want target %v, err %v", got.Target, got.Err, tc.wantTarget, tc.wantErr)
			}
			var inv *resource.InvalidError
			if errors.As(got.Err, &inv) != tc.wantInvalid {
				t.Errorf("error %v: invalid = %v, want %v", got.Err, !tc.wantInvalid, tc.wantInvalid)
			}
		})
	}
}

func TestTargetsPreferTheClusterToFiles(t *testing.T) {
	client := fake.NewClientset(targetCM("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: from-cluster}\n"),
		targetCM("prod", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n"))
	targets := &Targets{Cluster: Cluster{Client: client}}
	targets.Add("staging.yaml", targetCM("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: from-file}\n"))
	targets.Add("prod.yaml", targetCM("prod", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: production\n"))
	targets.Add("new.yaml", targetCM("new", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: fresh}\n"))
	cases := []struct {
		name, lookup, wantNamespace string
		wantConflict                bool
	}{
		{name: "A stored target whose file has another spec is the stored one, and the conflict is reported.", lookup: "staging", wantNamespace: "from-cluster", wantConflict: true},
		{name: "A stored target whose file has the same spec, written differently, is the stored one without a conflict.", lookup: "prod", wantNamespace: "production"},
		{name: "A target only a file holds is the file's.", lookup: "new", wantNamespace: "fresh"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := targets.Target(context.Background(), "flink-platform", tc.lookup)
			if got.Target == nil || got.Target.Namespace != tc.wantNamespace {
				t.Errorf("%s = %+v, want namespace %q", tc.lookup, got, tc.wantNamespace)
			}
			conflicts := targets.Conflicts()
			if (len(conflicts) > 0) != tc.wantConflict {
				t.Errorf("conflicts %v, want a conflict: %v", conflicts, tc.wantConflict)
			}
			if tc.wantConflict && !strings.Contains(conflicts[0].String(), `target "staging" in staging.yaml differs from the target of that name stored in namespace "flink-platform"`) {
				t.Errorf("the conflict says %q", conflicts[0])
			}
		})
	}
}
