package protection

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"flinkgate.io/flinkgate/internal/resource"
)

func TestReleaseInDyingNamespaces(t *testing.T) {
	ns := func(name string, dying bool) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if dying {
			now := metav1.Now()
			n.DeletionTimestamp = &now
			n.Status.Phase = corev1.NamespaceTerminating
		}
		return n
	}
	target := func(namespace, name string, finalizers ...string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Finalizers: finalizers,
			Labels: map[string]string{resource.LabelKind: resource.KindTarget}}}
	}
	cases := []struct {
		name      string
		platform  bool // the platform namespace is being deleted
		teams     bool // the other served namespace is being deleted
		wantKept  []string
		wantFreed []string
	}{
		{name: "while the platform namespace lives, nothing is released, even in a dying served namespace",
			teams: true, wantKept: []string{"platform/a", "teams/b"}},
		{name: "when the platform namespace is being deleted, its targets are released and foreign finalizers stay",
			platform: true, wantKept: []string{"teams/b"}, wantFreed: []string{"platform/a"}},
		{name: "when both are being deleted, the targets of both are released",
			platform: true, teams: true, wantFreed: []string{"platform/a", "teams/b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(ns("platform", tc.platform), ns("teams", tc.teams),
				target("platform", "a", "example.com/keep", resource.FinalizerInUse), target("teams", "b", resource.FinalizerInUse))
			if err := ReleaseInDyingNamespaces(context.Background(), client, "platform", []string{"platform", "teams"}, zap.NewNop()); err != nil {
				t.Fatal(err)
			}
			for _, key := range append(slices.Clone(tc.wantKept), tc.wantFreed...) {
				namespace, name, _ := strings.Cut(key, "/")
				cm, err := client.CoreV1().ConfigMaps(namespace).Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				has := resource.HasFinalizer(cm.Finalizers, resource.FinalizerInUse)
				if want := slices.Contains(tc.wantKept, key); has != want {
					t.Errorf("%s: flinkgate's finalizer present = %v, want %v", key, has, want)
				}
				if key == "platform/a" && !resource.HasFinalizer(cm.Finalizers, "example.com/keep") {
					t.Errorf("%s lost its foreign finalizer: %v", key, cm.Finalizers)
				}
			}
		})
	}
}
