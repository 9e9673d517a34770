package protection

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/resource"
)

// TestDanglingGauge counts, from the shared compact deployment cache, the
// deployments whose target is missing or terminating.
func TestDanglingGauge(t *testing.T) {
	const ns = "platform"
	now := metav1.Now()
	target := func(name string, terminating bool) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{resource.LabelKind: resource.KindTarget}}}
		if terminating {
			cm.DeletionTimestamp, cm.Finalizers = &now, []string{resource.FinalizerInUse}
		}
		return cm
	}
	deployment := func(name, target string) *metav1.PartialObjectMetadata {
		labels := map[string]string{resource.LabelKind: resource.KindDeployment}
		if target != "" {
			labels[resource.LabelDeploymentTarget] = target
		}
		return &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels},
		}
	}
	cases := []struct {
		name        string
		targets     []runtime.Object
		deployments []runtime.Object
		want        float64
	}{
		{"deployments of an existing target do not dangle",
			[]runtime.Object{target("staging", false)}, []runtime.Object{deployment("a", "staging"), deployment("b", "staging")}, 0},
		{"each deployment of a missing target dangles",
			[]runtime.Object{target("staging", false)}, []runtime.Object{deployment("a", "gone"), deployment("b", "gone"), deployment("c", "staging")}, 2},
		{"a deployment of a terminating target dangles",
			[]runtime.Object{target("staging", true)}, []runtime.Object{deployment("a", "staging")}, 1},
		{"a deployment without a target label is not counted",
			nil, []runtime.Object{deployment("a", "")}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := fake.NewClientset(tc.targets...)
			scheme := metafake.NewTestScheme()
			if err := metav1.AddMetaToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			meta := metafake.NewSimpleMetadataClient(scheme, tc.deployments...)
			ti := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns)).Core().V1().ConfigMaps().Informer()
			di, err := cache.NewDeploymentInformer(meta, ns)
			if err != nil {
				t.Fatal(err)
			}
			go ti.RunWithContext(ctx)
			go di.RunWithContext(ctx)
			syncCtx, done := context.WithTimeout(ctx, 30*time.Second)
			defer done()
			if !toolscache.WaitForCacheSync(syncCtx.Done(), ti.HasSynced, di.HasSynced) {
				t.Fatal("informers did not sync")
			}
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			c := &Controller{
				cfg:      Config{Client: client, Meta: meta, Namespaces: []string{ns}, Logger: zap.NewNop(), Metrics: m},
				targets:  map[string]toolscache.SharedIndexInformer{ns: ti},
				deps:     map[string]toolscache.SharedIndexInformer{ns: di},
				recorder: record.NewFakeRecorder(100),
				dangling: map[string]bool{},
			}
			c.countDangling(ctx)
			if got := testutil.ToFloat64(m.dangling.WithLabelValues(ns)); got != tc.want {
				t.Errorf("flinkgate_dangling_deployments = %v, want %v", got, tc.want)
			}
		})
	}
}

// A migration or a namespace being deleted can leave thousands of
// deployments dangling; counting them must not hold the client the
// informers share at its rate limit, so each count reads a bounded number
// of objects live, and the rest is confirmed in later counts.
func TestDanglingCountReadsABoundedNumberOfObjectsLive(t *testing.T) {
	const ns, perTarget = "platform", 500
	now := metav1.Now()
	terminating := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leaving", DeletionTimestamp: &now, Finalizers: []string{resource.FinalizerInUse},
		Labels: map[string]string{resource.LabelKind: resource.KindTarget}}}
	var deps []runtime.Object
	for i := range 2 * perTarget {
		target := "leaving"
		if i%2 == 1 {
			target = "gone"
		}
		deps = append(deps, &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("job-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
				Labels: map[string]string{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: target}},
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(terminating)
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := metafake.NewSimpleMetadataClient(scheme, deps...)
	ti := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns)).Core().V1().ConfigMaps().Informer()
	di, err := cache.NewDeploymentInformer(meta, ns)
	if err != nil {
		t.Fatal(err)
	}
	go ti.RunWithContext(ctx)
	go di.RunWithContext(ctx)
	syncCtx, done := context.WithTimeout(ctx, 30*time.Second)
	defer done()
	if !toolscache.WaitForCacheSync(syncCtx.Done(), ti.HasSynced, di.HasSynced) {
		t.Fatal("informers did not sync")
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	recorder := record.NewFakeRecorder(4 * perTarget)
	c := &Controller{
		cfg:      Config{Client: client, Meta: meta, Namespaces: []string{ns}, Logger: zap.NewNop(), Metrics: m},
		targets:  map[string]toolscache.SharedIndexInformer{ns: ti},
		deps:     map[string]toolscache.SharedIndexInformer{ns: di},
		recorder: recorder,
		dangling: map[string]bool{},
	}
	gets := func() int {
		n := 0
		for _, a := range append(client.Actions(), meta.Actions()...) {
			if a.GetVerb() == "get" {
				n++
			}
		}
		return n
	}
	before, cycles := gets(), 0
	for ; len(recorder.Events) < 2*perTarget; cycles++ {
		if cycles > 2*perTarget {
			t.Fatalf("after %d counts only %d of %d dangling deployments were warned about", cycles, len(recorder.Events), 2*perTarget)
		}
		c.countDangling(ctx)
		if reads := gets() - before; reads > maxDanglingReads {
			t.Fatalf("count %d read %d objects live, want at most %d", cycles+1, reads, maxDanglingReads)
		}
		before = gets()
		if got := testutil.ToFloat64(m.dangling.WithLabelValues(ns)); got != 2*perTarget {
			t.Fatalf("count %d: flinkgate_dangling_deployments = %v, want %v from the first count on", cycles+1, got, 2*perTarget)
		}
	}
	t.Logf("%d dangling deployments over 2 targets: every one warned about after %d counts of at most %d live reads each", 2*perTarget, cycles, maxDanglingReads)
}
