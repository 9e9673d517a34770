package cache

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"flinkgate.io/flinkgate/internal/health"
	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/resource"
)

const ns = "flink-platform"

func target(name, doc string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), ResourceVersion: "1", Labels: map[string]string{resource.LabelKind: resource.KindTarget}},
		Data:       map[string]string{resource.DataKey: doc},
	}
}

func deploymentMeta(name, target string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: target}},
	}
}

// started builds a cache whose informers have synced against fake clients.
// cached objects are seen by the informers; live objects are added after the
// sync, so only a live request can find them.
func started(t *testing.T, cached []runtime.Object, cachedMeta []runtime.Object) (*Cache, *fake.Clientset, *metafake.FakeMetadataClient) {
	t.Helper()
	client := fake.NewClientset(cached...)
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := metafake.NewSimpleMetadataClient(scheme, cachedMeta...)
	c, err := New(Clients{Client: client, Meta: meta, LiveClient: client, LiveMeta: meta}, []string{ns}, health.NewRefusals())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.Start(ctx)
	syncCtx, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	if !c.WaitForSync(syncCtx) {
		t.Fatal("caches did not sync")
	}
	return c, client, meta
}

const validTarget = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"

func TestTargetLookup(t *testing.T) {
	cases := []struct {
		name      string
		cached    []runtime.Object
		live      *corev1.ConfigMap
		lookup    string
		wantFound bool
		wantErr   bool
	}{
		{"a cached target is found", []runtime.Object{target("staging", validTarget)}, nil, "staging", true, false},
		{"a target the cache has not seen yet is found with a live GET", nil, target("fresh", validTarget), "fresh", true, false},
		{"a missing target is reported as missing", nil, nil, "nowhere", false, false},
		{"an invalid target is reported with its error", []runtime.Object{target("broken", "kind: DeploymentTarget\nspec: {}\n")}, nil, "broken", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client, _ := started(t, tc.cached, nil)
			if tc.live != nil {
				if _, err := client.CoreV1().ConfigMaps(ns).Create(context.Background(), tc.live, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			got := c.Target(context.Background(), ns, tc.lookup)
			if (got.Target != nil) != tc.wantFound || (got.Err != nil) != tc.wantErr {
				t.Errorf("got target=%v err=%v, want found=%v err=%v", got.Target, got.Err, tc.wantFound, tc.wantErr)
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	c, _, meta := started(t, nil, []runtime.Object{deploymentMeta("b", "staging"), deploymentMeta("a", "staging"), deploymentMeta("c", "other")})
	t.Run("the index lists a target's deployments, sorted", func(t *testing.T) {
		got, err := c.Referrers(context.Background(), ns, "staging")
		if err != nil || !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("got %v, %v; want [a b]", got, err)
		}
	})
	t.Run("the gauge counts deployments per target", func(t *testing.T) {
		if n := testutil.CollectAndCount(metrics.StateCollector{State: c}, "flinkgate_deployments"); n != 2 {
			t.Errorf("got %d flinkgate_deployments series, want 2 (staging, other)", n)
		}
	})
	t.Run("an unreferenced answer is confirmed with a live List", func(t *testing.T) {
		listed := false
		meta.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
			listed = true
			return false, nil, nil
		})
		if _, err := c.Referrers(context.Background(), ns, "unused"); err != nil {
			t.Fatal(err)
		}
		if !listed {
			t.Errorf("the cache's empty answer was trusted without a live List")
		}
	})
}
