package flinkcluster

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	// noSnapshots leaves FlinkStateSnapshots out while set.
	noSnapshots bool
	// fail, when set, is the answer while not served (NotFound otherwise).
	fail  error
	asked int
}

func (d *crdDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked++
	if !d.served && d.fail != nil {
		return nil, d.fail
	}
	if !d.served || gv != FlinkDeployments.GroupVersion().String() {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: FlinkDeployments.Group}, gv)
	}
	list := &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: FlinkDeployments.Resource, Namespaced: true, Kind: "FlinkDeployment"}}}
	if !d.noSnapshots {
		list.APIResources = append(list.APIResources, metav1.APIResource{Name: FlinkStateSnapshots.Resource, Namespaced: true, Kind: "FlinkStateSnapshot"})
	}
	return list, nil
}

func (d *crdDiscovery) serveSnapshots() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noSnapshots = false
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
			Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: "target-uid", FlinkAuthorized: true}},
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

func TestASnapshotCRDInstalledAfterTheStartIsWatched(t *testing.T) {
	client := kfake.NewClientset(deploymentCM("job", "uid-1", document("job", "")))
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
	})
	disc := &crdDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &client.Fake}, served: true, noSnapshots: true}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const poll = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Client: client, Dynamic: dyn, Writer: dyn, Discovery: disc,
			Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: "target-uid", FlinkAuthorized: true}},
			Namespaces: []string{depNS}, PlatformNamespace: depNS, FlinkServiceAccount: "flink",
			Logger: zap.NewNop(), Metrics: m, CRDPoll: poll,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually(t, 10*time.Second, "the FlinkDeployment", func() bool {
		_, err := dyn.Resource(FlinkDeployments).Namespace(targetNS).Get(context.Background(), "job", metav1.GetOptions{})
		return err == nil
	})
	disc.serveSnapshots()
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkStateSnapshot",
		"metadata": map[string]any{"namespace": targetNS, "name": "sp1"},
		"spec":     map[string]any{"jobReference": map[string]any{"kind": "FlinkDeployment", "name": "job"}, "savepoint": map[string]any{}},
		"status":   map[string]any{"state": "COMPLETED", "path": "s3://bucket/sp-1", "resultTimestamp": "2026-12-07T03:00:00Z"},
	}}
	if _, err := dyn.Resource(FlinkStateSnapshots).Namespace(targetNS).Create(context.Background(), snap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the last savepoint in the status annotation", func() bool {
		cm, err := client.CoreV1().ConfigMaps(depNS).Get(context.Background(), "job", metav1.GetOptions{})
		return err == nil && strings.Contains(cm.Annotations[AnnotationStatus], `"lastSavepoint":"s3://bucket/sp-1"`)
	})
}

func TestWhileTheCRDIsMissingTerminatingDeploymentsAreReleased(t *testing.T) {
	cases := []struct {
		name     string
		fail     error
		released bool
	}{
		{name: "Discovery says FlinkDeployments do not exist: none can, so a Deployment being deleted loses the finalizer.", released: true},
		{name: "Discovery cannot tell (a timeout): the finalizer stays.", fail: apierrors.NewTimeoutError("discovery", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaving := deploymentCM("leaving", "uid-1", document("leaving", ""))
			now := metav1.Now()
			leaving.DeletionTimestamp = &now
			staying := deploymentCM("staying", "uid-2", document("staying", ""))
			staying.Finalizers = nil
			client := kfake.NewClientset(leaving, staying)
			dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
				FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
			})
			disc := &crdDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &client.Fake}, fail: tc.fail}
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			const poll = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- Run(ctx, Config{
					Client: client, Dynamic: dyn, Writer: dyn, Discovery: disc,
					Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: stagingUID, FlinkAuthorized: true}},
					Namespaces: []string{depNS}, PlatformNamespace: depNS, FlinkServiceAccount: "flink",
					Logger: zap.NewNop(), Metrics: m, CRDPoll: poll,
				})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			finalizers := func(name string) []string {
				cm, err := client.CoreV1().ConfigMaps(depNS).Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return cm.Finalizers
			}
			if tc.released {
				eventually(t, 10*poll+5*time.Second, "the finalizer removed from the terminating Deployment", func() bool {
					return !slices.Contains(finalizers("leaving"), Finalizer)
				})
			} else {
				// Ten polls: each one could have released it.
				eventually(t, 100*poll+5*time.Second, "ten discovery polls", func() bool { return disc.questions() >= 10 })
				if !slices.Contains(finalizers("leaving"), Finalizer) {
					t.Errorf("the finalizer was removed while discovery could not tell whether FlinkDeployments exist")
				}
			}
			if got := finalizers("staying"); len(got) != 0 {
				t.Errorf("a live Deployment got finalizers %v while the CRD is missing, want none", got)
			}
			if a := dyn.Actions(); len(a) != 0 {
				t.Errorf("%d FlinkDeployment calls while the CRD is missing, want 0", len(a))
			}
		})
	}
}

func TestSnapshotsAreWatchedOnlyInNamespacesWithFlinkgatesFlinkDeployments(t *testing.T) {
	client := kfake.NewClientset(deploymentCM("job", "uid-1", document("job", "")))
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
	})
	disc := &crdDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &client.Fake}, served: true}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Client: client, Dynamic: dyn, Writer: dyn, Discovery: disc,
			Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: stagingUID, FlinkAuthorized: true}},
			Namespaces: []string{depNS}, PlatformNamespace: depNS, FlinkServiceAccount: "flink",
			Logger: zap.NewNop(), Metrics: m, CRDPoll: 10 * time.Millisecond,
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	watched := func() (namespaces []string) {
		for _, a := range dyn.Actions() {
			if a.GetResource() == FlinkStateSnapshots && (a.GetVerb() == "list" || a.GetVerb() == "watch") {
				namespaces = append(namespaces, a.GetNamespace())
			}
		}
		return namespaces
	}
	eventually(t, 10*time.Second, "snapshots watched in the FlinkDeployment's namespace", func() bool { return slices.Contains(watched(), targetNS) })
	for _, ns := range watched() {
		if ns != targetNS {
			t.Errorf("FlinkStateSnapshots listed or watched in namespace %q, want only %q (the one with flinkgate's FlinkDeployment)", ns, targetNS)
		}
	}
}
