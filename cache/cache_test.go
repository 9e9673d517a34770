package cache

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"flinkgate.io/flinkgate/resource"
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
	c, err := New(client, meta, []string{ns})
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
		if n := testutil.CollectAndCount(c, "flinkgate_deployments"); n != 2 {
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

func TestRecentAdmissionsCloseTheRaceWithTheInformers(t *testing.T) {
	c, _, _ := started(t, []runtime.Object{target("staging", validTarget)}, nil)
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()

	t.Run("a deployment admitted moments ago counts as a referrer before the cache sees it", func(t *testing.T) {
		c.AdmittedDeployment(ns, "staging", "racer")
		got, err := c.Referrers(ctx, ns, "staging")
		if err != nil || !slices.Equal(got, []string{"racer"}) {
			t.Errorf("got %v, %v; want [racer]", got, err)
		}
	})
	t.Run("a recently admitted deployment whose delete is admitted stops counting", func(t *testing.T) {
		c.AdmittedDeployment(ns, "staging", "brief")
		c.AdmittedDeploymentDelete(ns, "staging", "brief")
		got, err := c.Referrers(ctx, ns, "staging")
		if err != nil || !slices.Equal(got, []string{"racer"}) {
			t.Errorf("got %v, %v; want only [racer]", got, err)
		}
	})
	t.Run("an admitted deployment stops counting once the window has passed", func(t *testing.T) {
		now = now.Add(recentWindow)
		got, err := c.Referrers(ctx, ns, "staging")
		if err != nil || len(got) != 0 {
			t.Errorf("got %v, %v; want none", got, err)
		}
	})
	t.Run("a target whose delete was just admitted is not offered to deployments", func(t *testing.T) {
		c.AdmittedTargetDelete(ns, "staging")
		if got := c.Target(ctx, ns, "staging"); got.Err == nil || !strings.Contains(got.Err.Error(), "being deleted") {
			t.Errorf("got %+v; want an error saying the target is being deleted", got)
		}
	})
	t.Run("the delete mark expires, so a delete that failed does not block deployments for long", func(t *testing.T) {
		now = now.Add(recentWindow)
		if got := c.Target(ctx, ns, "staging"); got.Target == nil || got.Err != nil {
			t.Errorf("got %+v; want the cached target", got)
		}
	})
}

func TestARefusedWatchMakesTheCacheUnready(t *testing.T) {
	c, _, _ := started(t, nil, nil)
	now := time.Now()
	c.now = func() time.Time { return now }
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("rbac"))
	cases := []struct {
		name      string
		err       error
		advance   time.Duration
		wantReady bool
	}{
		{"a cache that was never refused is ready", nil, 0, true},
		{"a transient watch error does not make it unready", errors.New("connection reset"), 0, true},
		{"a forbidden watch makes it unready", forbidden, 0, false},
		{"a refusal that stops recurring is forgotten after a minute", nil, refusedWindow, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err != nil {
				c.watchError("deployments in "+ns, c.deployments[ns])(context.Background(), nil, tc.err)
			}
			now = now.Add(tc.advance)
			if err := c.Refused(); (err == nil) != tc.wantReady {
				t.Errorf("Refused() = %v, want ready=%v", err, tc.wantReady)
			}
		})
	}
}

func TestARefusalFollowedByASuccessfulListIsForgotten(t *testing.T) {
	c, _, _ := started(t, nil, nil)
	inf := c.deployments[ns]
	// The informer's version has moved on since the refusal was recorded.
	c.refused["deployments in "+ns] = refusal{at: c.now(), version: "an older version", informer: inf}
	if err := c.Refused(); err != nil {
		t.Errorf("Refused() = %v after the informer listed again; want nil", err)
	}
	c.refused["deployments in "+ns] = refusal{at: c.now(), version: inf.LastSyncResourceVersion(), informer: inf}
	if err := c.Refused(); err == nil {
		t.Errorf("Refused() = nil for a refusal at the informer's current version; want an error")
	}
}
