// Package flinkcluster keeps one Apache Flink Kubernetes Operator
// FlinkDeployment per Deployment ConfigMap in its target's namespace, and
// reports the FlinkDeployment's state back onto the Deployment.
//
// It reads as flinkgate and writes FlinkDeployments as the platform's
// ServiceAccount (Config.Writer impersonates it), so a namespace the
// platform may not use fails visibly. A FlinkDeployment lives in another
// namespace than its Deployment, so no ownerReference can tie them: a
// finalizer on the Deployment ConfigMap (Finalizer) deletes the
// FlinkDeployment and waits for it to be gone, and a sweep deletes the
// FlinkDeployments whose Deployment is gone. It runs in the leader only.
package flinkcluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
)

// The names the reconciler shares with the chart, the webhook and the e2e
// suite (FLINK-CONTRACT).
const (
	// Finalizer holds a Deployment ConfigMap until its FlinkDeployment is gone.
	Finalizer = "flinkgate.io/flink-cluster"
	// AnnotationState and AnnotationStatus report the FlinkDeployment's
	// state on the Deployment ConfigMap (annotations, not data: a user's
	// next kubectl apply replaces data).
	AnnotationState  = "flinkgate.io/state"
	AnnotationStatus = "flinkgate.io/status"
	// AnnotationSpecHash, on the FlinkDeployment, is the hash of what
	// flinkgate applied.
	AnnotationSpecHash = "flinkgate.io/spec-hash"
	// FieldManager owns what flinkgate applies.
	FieldManager = "flinkgate"
)

// Event reasons on the Deployment ConfigMap.
const (
	EventCreated      = "FlinkDeploymentCreated"
	EventUpdated      = "FlinkDeploymentUpdated"
	EventStateChanged = "FlinkStateChanged"
	EventConflict     = "FlinkDeploymentConflict"
	EventFailed       = "FlinkDeploymentFailed"
	EventDeleted      = "FlinkDeploymentDeleted"
)

// The Flink operator's resources.
var (
	FlinkDeployments    = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
	FlinkStateSnapshots = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkstatesnapshots"}
)

// Defaults of Config.
const (
	// DefaultResync is how often every Deployment is reconciled again and
	// the orphans are swept.
	DefaultResync = 5 * time.Minute
	// DefaultCRDPoll is how often discovery is asked whether the
	// FlinkDeployment CRD is served.
	DefaultCRDPoll = 10 * time.Second
	// DefaultWorkers reconcile Deployments at once.
	DefaultWorkers = 4
	// apiTimeout bounds each API call.
	apiTimeout = 15 * time.Second
	// A Deployment waiting for its FlinkDeployment to go is looked at
	// again, besides the watch's events, after deletePoll, then twice as
	// long each time up to deletePollMax: many deletions stuck on an
	// operator that is down must not each read live every two seconds.
	deletePoll    = 2 * time.Second
	deletePollMax = time.Minute
	// The queue's retries: exponential from retryBase, capped at retryMax.
	retryBase = 500 * time.Millisecond
	retryMax  = 5 * time.Minute
)

// Targets looks a DeploymentTarget up (cache.Cache implements it).
type Targets interface {
	Target(ctx context.Context, namespace, name string) resource.TargetLookup
}

// Config configures the reconciler.
type Config struct {
	// Client reads Deployment ConfigMaps, patches their metadata (the
	// finalizer, the status annotations) and records events, as flinkgate.
	Client kubernetes.Interface
	// Dynamic lists and watches FlinkDeployments and FlinkStateSnapshots
	// as flinkgate.
	Dynamic dynamic.Interface
	// Writer creates, applies and deletes FlinkDeployments: as the
	// platform's ServiceAccount (impersonated), or as flinkgate.
	Writer dynamic.Interface
	// Discovery tells whether the CRD is served; nil means Client's. Its
	// calls take no context, so its client should have a timeout.
	Discovery discovery.DiscoveryInterface
	// Targets looks up a Deployment's target.
	Targets Targets
	// Namespaces are the served namespaces.
	Namespaces []string
	// PlatformNamespace is where a target without a namespace runs.
	PlatformNamespace string
	// FlinkServiceAccount runs the Flink pods unless a document names one.
	FlinkServiceAccount string
	Logger              *zap.Logger
	Metrics             *Metrics
	// Resync, CRDPoll and Workers: 0 means the Default.
	Resync  time.Duration
	CRDPoll time.Duration
	Workers int

	// FlinkAllowedServiceAccounts are the ServiceAccounts besides
	// FlinkServiceAccount a document may name.
	FlinkAllowedServiceAccounts []string
}

// reconciler is one leader's run.
type reconciler struct {
	cfg      Config
	log      *zap.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	// deleteWaits spaces out the looks at a Deployment waiting for its
	// FlinkDeployment to go (deletePoll to deletePollMax), per key.
	deleteWaits workqueue.TypedRateLimiter[string]

	cms map[string]toolscache.SharedIndexInformer // Deployment ConfigMaps by namespace
	fds toolscache.SharedIndexInformer
	// snapshots watches FlinkStateSnapshots in the namespaces that hold a
	// FlinkDeployment of flinkgate's, once their CRD is served.
	snapshots snapshotWatches

	mu       sync.Mutex
	states   map[string]string // key -> state, for the gauge
	counts   map[string]int
	warnings map[string]string // key -> last warning, so retries do not repeat it
	// waiting: the Deployments that lost a FlinkDeployment's name to
	// another, by that FlinkDeployment's key; waitsOn is the reverse.
	waiting map[string]map[string]struct{}
	waitsOn map[string]string
	// refused: FlinkDeployments labelled for a Deployment outside its
	// target's namespace whose delete failed; not tried again before the
	// next sweep, as each of their updates enqueues that Deployment.
	refused map[types.UID]struct{}
}

// newDeleteWaits is the reconciler's deleteWaits.
func newDeleteWaits() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[string](deletePoll, deletePollMax)
}

// Indexes of the FlinkDeployment and FlinkStateSnapshot informers.
const (
	byDeployment = "byDeployment" // namespace/name of the labelled Deployment
	byJob        = "byJob"        // namespace/name of a snapshot's FlinkDeployment
)

// Run reconciles until ctx ends. It waits for the FlinkDeployment CRD
// first (flinkgate_flink_operator_crd_missing is 1 meanwhile); it returns
// an error only when it cannot start. Meant for the leader only.
func Run(ctx context.Context, cfg Config) error {
	cfg = withDefaults(cfg)
	r := &reconciler{
		cfg: cfg, log: cfg.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "flinkcluster"}),
		deleteWaits: newDeleteWaits(),
		cms:         map[string]toolscache.SharedIndexInformer{},
		states:      map[string]string{},
		counts:      map[string]int{},
		warnings:    map[string]string{},
		waiting:     map[string]map[string]struct{}{},
		waitsOn:     map[string]string{},
	}
	defer r.queue.ShutDown()
	// The gauges are the leader's word; a follower has none.
	defer cfg.Metrics.deployments.Reset()
	defer cfg.Metrics.crdMissing.Set(0)
	// Not tied to ctx: the last syncs' events are sent before Shutdown.
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	r.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "flinkgate-flinkcluster"})
	// The Deployments first: while the CRD is missing, the ones being
	// deleted are released (no FlinkDeployment can exist).
	if err := r.startDeployments(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	snapshots, ok := r.waitForCRD(ctx)
	if !ok {
		return nil
	}
	if err := r.start(ctx, snapshots); err != nil || ctx.Err() != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.watchCRD(ctx) })
	for range cfg.Workers {
		wg.Go(func() {
			for r.next(ctx) {
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(cfg.Resync)
		defer t.Stop()
		for {
			r.sweep(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
	return nil
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Discovery == nil {
		cfg.Discovery = cfg.Client.Discovery()
	}
	if cfg.Writer == nil {
		cfg.Writer = cfg.Dynamic
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.CRDPoll <= 0 {
		cfg.CRDPoll = DefaultCRDPoll
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	cfg.Logger = cfg.Logger.With(zap.String("controller", "flinkcluster"))
	return cfg
}

// startDeployments runs the Deployment ConfigMaps' informers and waits for
// them to list.
func (r *reconciler) startDeployments(ctx context.Context) error {
	var synced []toolscache.InformerSynced
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    r.enqueue,
		UpdateFunc: func(_, obj any) { r.enqueue(obj) },
		DeleteFunc: r.enqueue,
	}
	for _, ns := range r.cfg.Namespaces {
		// No informer resync: the sweep enqueues every Deployment each Resync.
		f := informers.NewSharedInformerFactoryWithOptions(r.cfg.Client, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.LabelSelector = resource.LabelKind + "=" + resource.KindDeployment
			}),
			informers.WithTransform(dropManagedFields))
		inf := f.Core().V1().ConfigMaps().Informer()
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watch deployments in %s: %w", ns, err)
		}
		r.cms[ns] = inf
		synced = append(synced, inf.HasSynced)
		go inf.RunWithContext(ctx)
	}
	toolscache.WaitForCacheSync(ctx.Done(), synced...)
	return nil
}

// start runs the FlinkDeployments' informer (and the snapshots' once it
// has listed) and waits for it to list.
func (r *reconciler) start(ctx context.Context, withSnapshots bool) error {
	// Only FlinkDeployments flinkgate labelled are watched; one it did not
	// label is read live when a create finds it (a conflict).
	r.fds = dynamicinformer.NewFilteredDynamicInformer(r.cfg.Dynamic, FlinkDeployments, metav1.NamespaceAll, 0,
		toolscache.Indexers{byDeployment: indexByDeployment, toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = flinkop.LabelDeploymentUID }).Informer()
	if _, err := r.fds.AddEventHandler(r.fdHandler()); err != nil {
		return fmt.Errorf("watch flinkdeployments: %w", err)
	}
	r.snapshots.ctx = ctx
	go r.fds.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), r.fds.HasSynced) {
		return nil
	}
	if withSnapshots {
		r.watchSnapshots()
	}
	r.log.Info("flink reconciler started", zap.Strings("namespaces", r.cfg.Namespaces), zap.Bool("snapshots", withSnapshots),
		zap.Duration("resync", r.cfg.Resync), zap.Int("workers", r.cfg.Workers))
	return nil
}

func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func indexByDeployment(obj any) ([]string, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, nil
	}
	l := u.GetLabels()
	ns, name := l[flinkop.LabelDeploymentNamespace], l[flinkop.LabelDeploymentName]
	if ns == "" || name == "" {
		return nil, nil
	}
	return []string{ns + "/" + name}, nil
}

func indexByJob(obj any) ([]string, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, nil
	}
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "jobReference", "kind")
	name, _, _ := unstructured.NestedString(u.Object, "spec", "jobReference", "name")
	if name == "" || (kind != "" && kind != flinkop.Kind) {
		return nil, nil
	}
	return []string{u.GetNamespace() + "/" + name}, nil
}

func (r *reconciler) enqueue(obj any) {
	if key, err := toolscache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		r.queue.Add(key)
	}
}

// enqueueOwner enqueues the Deployment a FlinkDeployment's labels name, if
// it is in a served namespace.
func (r *reconciler) enqueueOwner(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	keys, _ := indexByDeployment(obj)
	for _, k := range keys {
		if ns, _, err := toolscache.SplitMetaNamespaceKey(k); err == nil && r.cms[ns] != nil {
			r.queue.Add(k)
		}
	}
}

// fdHandler handles the FlinkDeployment informer's events: the labelled
// Deployment is enqueued, and so, when one is deleted, are the Deployments
// that lost its name to it; the snapshots are watched in the namespaces
// that hold one.
func (r *reconciler) fdHandler() toolscache.ResourceEventHandlerFuncs {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			r.enqueueOwner(obj)
			if m, ok := obj.(metav1.Object); ok {
				r.snapshots.add(r, m.GetNamespace())
			}
		},
		UpdateFunc: func(_, obj any) { r.enqueueOwner(obj) },
		DeleteFunc: func(obj any) {
			r.enqueueOwner(obj)
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				r.enqueueWaiting(m.GetNamespace() + "/" + m.GetName())
				r.snapshots.remove(r, m.GetNamespace())
			}
		},
	}
}

func (r *reconciler) enqueueSnapshotOwner(obj any) {
	keys, _ := indexByJob(obj)
	for _, k := range keys {
		if fd, exists, err := r.fds.GetIndexer().GetByKey(k); err == nil && exists {
			r.enqueueOwner(fd)
		}
	}
}
