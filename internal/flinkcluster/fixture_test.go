package flinkcluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
)

const (
	depNS    = "vvp"
	targetNS = "team-a"
)

// document is a Deployment that translates, on target "staging"; extra is
// added under spec.template.spec.artifact.
func document(name, extra string) string {
	return `kind: Deployment
metadata:
  name: ` + name + `
spec:
  deploymentTargetName: staging
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: local:///opt/flink/job.jar
        flinkVersion: "1.20"
` + extra
}

// stagingUID is the UID of the fixture's target "staging".
const stagingUID = "target-uid"

// deploymentCM is a Deployment ConfigMap as the webhooks store it (the
// target's namespace and the document's digest recorded) that the
// reconciler has already given its finalizer.
func deploymentCM(name, uid, doc string) *corev1.ConfigMap {
	return withDoc(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: depNS, Name: name, UID: types.UID(uid), ResourceVersion: "1",
			Labels:      map[string]string{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: "staging"},
			Annotations: map[string]string{resource.AnnotationTargetNamespace: targetNS},
			Finalizers:  []string{Finalizer},
		},
	}, doc)
}

// withDoc stores doc in cm as the mutating webhook would, with its digest.
func withDoc(cm *corev1.ConfigMap, doc string) *corev1.ConfigMap {
	cm.Data = map[string]string{resource.DataKey: doc}
	cm.Annotations[resource.AnnotationDigest] = resource.Digest(&resource.Target{UID: stagingUID}, doc)
	return cm
}

// labelled is a FlinkDeployment labelled for a Deployment.
func labelled(namespace, name, depName, uid string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": flinkop.APIVersion, "kind": flinkop.Kind,
		"metadata": map[string]any{"namespace": namespace, "name": name, "uid": "fd-" + name + "-" + namespace},
		"spec":     map[string]any{"image": "someone-elses"},
	}}
	if uid != "" {
		u.SetLabels(map[string]string{flinkop.LabelDeploymentNamespace: depNS, flinkop.LabelDeploymentName: depName, flinkop.LabelDeploymentUID: uid})
	}
	return u
}

type fakeTargets map[string]*resource.Target

func (f fakeTargets) Target(_ context.Context, _, name string) resource.TargetLookup {
	return resource.TargetLookup{Target: f[name]}
}

// fixture is a reconciler on fake clients whose caches the test fills
// (refresh copies the fakes' objects into them, as a watch would).
type fixture struct {
	t      *testing.T
	r      *reconciler
	client *kfake.Clientset
	dyn    *dynfake.FakeDynamicClient
	events *record.FakeRecorder
	// writes is every write to either fake, in order, as "verb resource".
	writeLog []string
}

func newFixture(t *testing.T, cms []*corev1.ConfigMap, fds ...*unstructured.Unstructured) *fixture {
	t.Helper()
	var objs []runtime.Object
	for _, cm := range cms {
		objs = append(objs, cm)
	}
	var dobjs []runtime.Object
	for _, fd := range fds {
		dobjs = append(dobjs, fd)
	}
	f := &fixture{t: t, client: kfake.NewClientset(objs...), events: record.NewFakeRecorder(1000)}
	f.dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		FlinkDeployments: "FlinkDeploymentList", FlinkStateSnapshots: "FlinkStateSnapshotList",
	}, dobjs...)
	f.emulateServerSideApply()
	f.emulateOperatorFinalizer()
	logWrites := func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			f.writeLog = append(f.writeLog, a.GetVerb()+" "+a.GetResource().Resource)
		}
		return false, nil, nil
	}
	f.client.PrependReactor("*", "*", logWrites)
	f.dyn.PrependReactor("*", "*", logWrites)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := withDefaults(Config{
		Client: f.client, Dynamic: f.dyn, Writer: f.dyn,
		Targets:    fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: stagingUID, FlinkAuthorized: true}},
		Namespaces: []string{depNS}, PlatformNamespace: depNS, FlinkServiceAccount: "flink",
		Logger: zap.NewNop(), Metrics: m,
	})
	f.r = &reconciler{
		cfg: cfg, log: cfg.Logger, recorder: f.events,
		queue:       workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		deleteWaits: newDeleteWaits(),
		cms: map[string]toolscache.SharedIndexInformer{
			depNS: toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &corev1.ConfigMap{}, 0, toolscache.Indexers{}),
		},
		fds:    toolscache.NewSharedIndexInformer(&toolscache.ListWatch{}, &unstructured.Unstructured{}, 0, toolscache.Indexers{byDeployment: indexByDeployment, toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}),
		states: map[string]string{}, counts: map[string]int{}, warnings: map[string]string{},
		waiting: map[string]map[string]struct{}{}, waitsOn: map[string]string{},
	}
	t.Cleanup(f.r.queue.ShutDown)
	f.refresh()
	return f
}

// refresh puts the fakes' Deployment ConfigMaps and labelled
// FlinkDeployments into the caches.
func (f *fixture) refresh() {
	f.t.Helper()
	cms, err := f.client.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, depNS)
	if err != nil {
		f.t.Fatal(err)
	}
	var items []any
	for _, cm := range cms.(*corev1.ConfigMapList).Items {
		items = append(items, cm.DeepCopy())
	}
	if err := f.r.cms[depNS].GetIndexer().Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
	items = nil
	for _, fd := range f.allFDs() {
		if _, ok := fd.GetLabels()[flinkop.LabelDeploymentUID]; ok {
			items = append(items, fd)
		}
	}
	if err := f.r.fds.GetIndexer().Replace(items, ""); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) allFDs() []*unstructured.Unstructured {
	f.t.Helper()
	list, err := f.dyn.Resource(FlinkDeployments).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out
}

func (f *fixture) fd(namespace, name string) *unstructured.Unstructured {
	f.t.Helper()
	fd, err := f.dyn.Resource(FlinkDeployments).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return fd
}

func (f *fixture) cm(name string) *corev1.ConfigMap {
	f.t.Helper()
	cm, err := f.client.CoreV1().ConfigMaps(depNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm
}

// sync refreshes the caches and reconciles one Deployment.
func (f *fixture) sync(name string) (time.Duration, error) {
	f.t.Helper()
	f.refresh()
	return f.r.sync(context.Background(), depNS+"/"+name)
}

// writes counts the FlinkDeployment writes (create, update, patch, delete)
// the fake dynamic client was asked for.
func (f *fixture) writes() int {
	n := 0
	for _, a := range f.dyn.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
			if a.GetResource() == FlinkDeployments {
				n++
			}
		}
	}
	return n
}

// drainEvents returns the events recorded so far.
func (f *fixture) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-f.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) errorsOf(reason string) float64 {
	return testutil.ToFloat64(f.r.cfg.Metrics.errors.WithLabelValues(reason))
}

// setStatus plays the operator: it writes a status (and no spec).
func (f *fixture) setStatus(namespace, name string, status map[string]any) {
	f.t.Helper()
	fd := f.fd(namespace, name)
	fd.Object["status"] = status
	if err := f.dyn.Tracker().Update(FlinkDeployments, fd, namespace); err != nil {
		f.t.Fatal(err)
	}
}

// emulateServerSideApply makes the fake's apply behave as the API server's
// does for an object with one applier: the applied labels, annotations and
// spec replace the stored ones (the fake would merge them), and a spec
// change bumps metadata.generation.
func (f *fixture) emulateServerSideApply() {
	f.dyn.PrependReactor("patch", "flinkdeployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchAction)
		if p.GetPatchType() != types.ApplyPatchType {
			return true, nil, apierrors.NewBadRequest("the fake API server takes only apply patches of FlinkDeployments")
		}
		applied := &unstructured.Unstructured{}
		if err := applied.UnmarshalJSON(p.GetPatch()); err != nil {
			return true, nil, err
		}
		obj, err := f.dyn.Tracker().Get(FlinkDeployments, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		cur := obj.(*unstructured.Unstructured).DeepCopy()
		cur.SetLabels(applied.GetLabels())
		cur.SetAnnotations(applied.GetAnnotations())
		old, _ := cur.Object["spec"].(map[string]any)
		cur.Object["spec"] = applied.Object["spec"]
		if !equalJSON(old, applied.Object["spec"]) {
			cur.SetGeneration(cur.GetGeneration() + 1)
		}
		if err := f.dyn.Tracker().Update(FlinkDeployments, cur, p.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, cur, nil
	})
}

func equalJSON(a, b any) bool {
	ja, _ := (&unstructured.Unstructured{Object: map[string]any{"x": a}}).MarshalJSON()
	jb, _ := (&unstructured.Unstructured{Object: map[string]any{"x": b}}).MarshalJSON()
	return string(ja) == string(jb)
}

// emulateOperatorFinalizer makes a delete of a FlinkDeployment that has
// finalizers (the operator's) only mark it deleted, as the API server does.
func (f *fixture) emulateOperatorFinalizer() {
	f.dyn.PrependReactor("delete", "flinkdeployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		obj, err := f.dyn.Tracker().Get(FlinkDeployments, d.GetNamespace(), d.GetName())
		if err != nil {
			return true, nil, err
		}
		cur := obj.(*unstructured.Unstructured).DeepCopy()
		if pre := d.GetDeleteOptions().Preconditions; pre != nil && pre.UID != nil && *pre.UID != cur.GetUID() {
			return true, nil, apierrors.NewConflict(FlinkDeployments.GroupResource(), d.GetName(), nil)
		}
		if len(cur.GetFinalizers()) == 0 {
			return false, nil, nil
		}
		now := metav1.Now()
		cur.SetDeletionTimestamp(&now)
		return true, nil, f.dyn.Tracker().Update(FlinkDeployments, cur, d.GetNamespace())
	})
}

// hasEvent reports whether one of events starts with the type and reason.
func hasEvent(events []string, typ, reason string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, typ+" "+reason+" ") {
			return true
		}
	}
	return false
}

var cmGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func errorsAs(err error, target **failure) bool {
	return errors.As(err, target)
}

// editCM changes a stored Deployment ConfigMap (the next sync's refresh
// puts it in the cache).
func (f *fixture) editCM(name string, change func(*corev1.ConfigMap)) {
	f.t.Helper()
	cm := f.cm(name)
	change(cm)
	if err := f.client.Tracker().Update(cmGVR, cm, depNS); err != nil {
		f.t.Fatal(err)
	}
}
