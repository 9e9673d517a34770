package flinkcluster

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kfake "k8s.io/client-go/kubernetes/fake"
)

func TestOnShutdownInADyingPlatformNamespaceDeploymentsAreReleased(t *testing.T) {
	const platform = "flinkgate-system"
	namespace := func(name string, dying bool) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if dying {
			now := metav1.Now()
			ns.DeletionTimestamp, ns.Status.Phase = &now, corev1.NamespaceTerminating
		}
		return ns
	}
	cases := []struct {
		name                      string
		platformDying, depNSDying bool
		released                  bool
	}{
		{name: "Both the platform namespace and the Deployment's namespace are being deleted: the FlinkDeployment is deleted and the finalizer removed.", platformDying: true, depNSDying: true, released: true},
		{name: "Only the platform namespace is being deleted: the Deployment keeps its finalizer (the next flinkgate releases it).", platformDying: true},
		{name: "Only the Deployment's namespace is being deleted: the next leader does the work, nothing is released.", depNSDying: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := deploymentCM("job", "uid-1", document("job", ""))
			other := deploymentCM("other", "uid-2", document("other", "")) // its FlinkDeployment is someone else's
			client := kfake.NewClientset(namespace(platform, tc.platformDying), namespace(depNS, tc.depNSDying), cm, other)
			dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
				FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
			}, labelled(targetNS, "job", "job", "uid-1"), labelled(targetNS, "other", "other", "uid-of-an-older-other"))
			err := ReleaseInDyingNamespaces(context.Background(), Config{
				Client: client, Dynamic: dyn, Writer: dyn, Namespaces: []string{depNS}, PlatformNamespace: platform, Logger: zap.NewNop(),
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"job", "other"} {
				got, err := client.CoreV1().ConfigMaps(depNS).Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if held := slices.Contains(got.Finalizers, Finalizer); held == tc.released {
					t.Errorf("deployment %s: finalizer kept = %t, want %t", name, held, !tc.released)
				}
			}
			_, err = dyn.Resource(FlinkDeployments).Namespace(targetNS).Get(context.Background(), "job", metav1.GetOptions{})
			if gone := err != nil; gone != tc.released {
				t.Errorf("FlinkDeployment %s/job gone = %t, want %t", targetNS, gone, tc.released)
			}
			if _, err := dyn.Resource(FlinkDeployments).Namespace(targetNS).Get(context.Background(), "other", metav1.GetOptions{}); err != nil {
				t.Errorf("the FlinkDeployment labelled for another Deployment's UID was deleted: %v", err)
			}
		})
	}
}
