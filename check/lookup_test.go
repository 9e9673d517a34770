package check

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"flinkgate.io/flinkgate/resource"
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

func TestTargetsPreferFilesToTheCluster(t *testing.T) {
	client := fake.NewClientset(targetCM("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: from-cluster}\n"),
		targetCM("prod", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n"))
	targets := &Targets{Cluster: Cluster{Client: client}}
	targets.Add(targetCM("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: from-file}\n"))
	if got := targets.Target(context.Background(), "flink-platform", "staging"); got.Target == nil || got.Target.Namespace != "from-file" {
		t.Errorf("staging = %+v, want the file's target", got)
	}
	if got := targets.Target(context.Background(), "flink-platform", "prod"); got.Target == nil || got.Target.Namespace != "production" {
		t.Errorf("prod = %+v, want the cluster's target", got)
	}
}
