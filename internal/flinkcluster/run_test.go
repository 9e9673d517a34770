package flinkcluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynfake "k8s.io/client-go/dynamic/fake"
	kfake "k8s.io/client-go/kubernetes/fake"
)

// crdDiscovery serves the flink.apache.org group once served is set, and
// counts the questions.
type crdDiscovery struct {
	*fakediscovery.FakeDiscovery
	mu     sync.Mutex
	served bool
	asked  int
}

func (d *crdDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	if !d.served || gv != FlinkDeployments.GroupVersion().String() {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: FlinkDeployments.Group}, gv)
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{
		{Name: FlinkDeployments.Resource, Namespaced: true, Kind: "FlinkDeployment"},
		{Name: FlinkStateSnapshots.Resource, Namespaced: true, Kind: "FlinkStateSnapshot"},
	}}, nil
}

func (d *crdDiscovery) set(served bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.served = served
}

func (d *crdDiscovery) questions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		<-tick.C
	}
}

func TestAMissingCRDSetsTheGaugeLogsOnceAndCallsNothingUntilItIsServed(t *testing.T) {
	client := kfake.NewClientset(deploymentCM("job", "uid-1", document("job", "")))
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
	})
	disc := &crdDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &client.Fake}}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	const poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Client: client, Dynamic: dyn, Writer: dyn, Discovery: disc,
			Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: "target-uid"}},
			Namespaces: []string{depNS}, PlatformNamespace: depNS, FlinkServiceAccount: "flink",
			Logger: zap.New(core), Metrics: m, CRDPoll: poll,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Ten polls: long enough for a storm to show.
	eventually(t, 100*poll+5*time.Second, "ten discovery polls", func() bool { return disc.questions() >= 10 })
	if got := testutil.ToFloat64(m.crdMissing); got != 1 {
		t.Errorf("flinkgate_flink_operator_crd_missing = %v, want 1", got)
	}
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings while waiting, want 1", n)
	}
	for _, r := range Reasons {
		if got := testutil.ToFloat64(m.errors.WithLabelValues(r)); got != 0 {
			t.Errorf("errors{reason=%s} = %v while waiting, want 0", r, got)
		}
	}
	if a := dyn.Actions(); len(a) != 0 {
		t.Errorf("%d FlinkDeployment calls while the CRD is missing, want 0", len(a))
	}
	// The CRD comes: the reconciler starts and creates the FlinkDeployment.
	disc.set(true)
	eventually(t, 10*time.Second, "the FlinkDeployment is created once the CRD is served", func() bool {
		_, err := dyn.Resource(FlinkDeployments).Namespace(targetNS).Get(context.Background(), "job", metav1.GetOptions{})
		return err == nil
	})
	if got := testutil.ToFloat64(m.crdMissing); got != 0 {
		t.Errorf("flinkgate_flink_operator_crd_missing = %v once served, want 0", got)
	}
	eventually(t, 10*time.Second, "the state annotation", func() bool {
		cm, err := client.CoreV1().ConfigMaps(depNS).Get(context.Background(), "job", metav1.GetOptions{})
		return err == nil && cm.Annotations[AnnotationState] == StateTransitioning
	})
}
