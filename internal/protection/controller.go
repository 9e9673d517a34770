// This file is over 400 lines because the controller's informers, queue, events and dangling
// gauge share its state; the decision itself is in decide.go.

package protection

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/resource"
)

// DefaultSettle is how long a target must have been terminating before the
// controller trusts a live list of its referrers. A deployment write that
// flinkgate's validating webhook admitted (after a live GET saw the target
// not terminating) is stored within the API server's request timeout, 60 s
// by default (--request-timeout), which also bounds the webhook calls
// themselves (at most 30 s each); 5 s more absorb clock skew between the API
// server, which stamps deletionTimestamp, and flinkgate. After that every
// write that could reference the target is either stored, and in the list,
// or failed.
const DefaultSettle = 65 * time.Second

// danglingInterval is how often the dangling gauge is recomputed.
const danglingInterval = 2 * time.Second

// maxDanglingReads bounds the live GETs one count of dangling deployments
// makes on the client the informers share (50 requests/s): 5/s. Each target
// the caches say is missing or terminating is read once, the targets read
// longest ago first; a deployment is read once, before the warning about it,
// and those beyond the bound are read in later counts.
const maxDanglingReads = 10

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Config configures a Controller.
type Config struct {
	Client     kubernetes.Interface
	Meta       metadata.Interface
	Namespaces []string
	Settle     time.Duration
	Logger     *zap.Logger
	Metrics    *Metrics
	// Deployments are the webhook cache's deployment informers
	// (cache.Cache.DeploymentInformers), running; sharing them spares a
	// second list and copy of every deployment. A served namespace without
	// one gets an informer of its own.
	Deployments map[string]toolscache.SharedIndexInformer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Metrics are the controller's gauges; they are registered once per process
// and set only by the replica that leads.
type Metrics struct {
	dangling *prometheus.GaugeVec
	leader   prometheus.Gauge
}

// NewMetrics registers flinkgate_dangling_deployments{namespace} (namespace
// is one of the served namespaces, so bounded) and flinkgate_protection_leader.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		dangling: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flinkgate_dangling_deployments",
			Help: "Deployments whose target does not exist or is terminating, by namespace; exported by the replica that leads the protection controller.",
		}, []string{"namespace"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flinkgate_protection_leader",
			Help: "1 while this replica holds the protection controller's lease.",
		}),
	}
	for _, c := range []prometheus.Collector{m.dangling, m.leader} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register protection metrics: %w", err)
		}
	}
	return m, nil
}

// Controller keeps FinalizerInUse on the served namespaces' targets.
type Controller struct {
	cfg      Config
	queue    workqueue.TypedRateLimitingInterface[string]
	targets  map[string]toolscache.SharedIndexInformer
	deps     map[string]toolscache.SharedIndexInformer
	recorder record.EventRecorder

	mu       sync.Mutex
	dangling map[string]bool // ns/name of deployments already warned about

	// verdicts and counts belong to countDangling's goroutine.
	verdicts map[string]targetVerdict // ns/name of targets read live
	counts   uint64
}

// Run runs the controller until ctx ends: informers, workers, the dangling
// gauge. It is meant to run in the leader only.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c := &Controller{
		cfg: cfg,
		// Backoff from 100 ms to 30 s: a waiting target is also requeued
		// whenever one of its deployments goes away.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "protection"}),
		targets:  map[string]toolscache.SharedIndexInformer{},
		deps:     map[string]toolscache.SharedIndexInformer{},
		recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "flinkgate-protection"}),
		dangling: map[string]bool{},
	}
	defer c.queue.ShutDown()
	var synced []toolscache.InformerSynced
	for _, ns := range cfg.Namespaces {
		tf := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 5*time.Minute, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = resource.LabelKind + "=" + resource.KindTarget }))
		ti := tf.Core().V1().ConfigMaps().Informer()
		if _, err := ti.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueTarget,
			UpdateFunc: func(_, obj any) { c.enqueueTarget(obj) },
		}); err != nil {
			return fmt.Errorf("watch targets: %w", err)
		}
		c.targets[ns] = ti
		di, own := cfg.Deployments[ns], false
		if di == nil {
			var err error
			if di, err = cache.NewDeploymentInformer(cfg.Meta, ns); err != nil {
				return err
			}
			own = true
		}
		reg, err := di.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			// A deployment that goes away or changes target may free a
			// terminating target.
			UpdateFunc: func(old, _ any) { c.enqueueReferenced(old) },
			DeleteFunc: c.enqueueReferenced,
		})
		if err != nil {
			return fmt.Errorf("watch deployments: %w", err)
		}
		// A shared informer outlives the lease; its handler must not.
		defer func() { _ = di.RemoveEventHandler(reg) }()
		c.deps[ns] = di
		synced = append(synced, ti.HasSynced, reg.HasSynced)
		go ti.RunWithContext(ctx)
		if own {
			go di.RunWithContext(ctx)
		}
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	cfg.Logger.Info("protection controller started", zap.Strings("namespaces", cfg.Namespaces), zap.Duration("settle", cfg.Settle))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for c.next(ctx) {
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(danglingInterval)
		defer t.Stop()
		for {
			c.countDangling(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) enqueueTarget(obj any) {
	if key, err := toolscache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueReferenced(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if d, ok := obj.(*cache.Deployment); ok && d.Target != "" {
		c.queue.Add(d.Namespace + "/" + d.Target)
	}
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	after, err := c.sync(ctx, key)
	switch {
	case err != nil:
		if !errors.Is(err, errWaiting) {
			c.cfg.Logger.Warn("protection sync failed; retrying with backoff", zap.String("target", key), zap.Error(err))
		}
		c.queue.AddRateLimited(key)
	case after > 0:
		c.queue.Forget(key)
		c.queue.AddAfter(key, after)
	default:
		c.queue.Forget(key)
	}
	return true
}

// errWaiting asks for a retry with backoff without logging a failure.
var errWaiting = errors.New("still referenced")

// sync decides one target and acts; it returns how long to wait before the
// next look, or an error to retry with backoff.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := toolscache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	inf, ok := c.targets[ns]
	if !ok {
		return 0, nil
	}
	obj, exists, err := inf.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	cm := obj.(*corev1.ConfigMap)
	in := Input{Finalizers: cm.Finalizers, Now: c.cfg.Now(), Settle: c.cfg.Settle}
	if cm.DeletionTimestamp != nil {
		ts := cm.DeletionTimestamp.Time
		in.DeletionTimestamp = &ts
	}
	d := Decide(in)
	if d.Action != Nothing {
		// Only now is the namespace's state worth a request.
		if in.NamespaceTerminating, err = c.namespaceTerminating(ctx, ns); err != nil {
			return 0, err
		}
		d = Decide(in)
	}
	if d.Action == List {
		refs, err := cache.LiveReferrers(ctx, c.cfg.Meta, ns, name)
		if err != nil {
			return 0, err
		}
		in.Listed, in.Referrers = true, refs
		d = Decide(in)
	}
	log := c.cfg.Logger.With(zap.String("namespace", ns), zap.String("target", name), zap.String("action", d.Action.String()))
	switch d.Action {
	case AddFinalizer:
		out := cm.DeepCopy()
		out.Finalizers = append(out.Finalizers, resource.FinalizerInUse)
		if _, err := c.cfg.Client.CoreV1().ConfigMaps(ns).Update(ctx, out, metav1.UpdateOptions{FieldManager: "flinkgate-protection"}); err != nil {
			return 0, ignoreGone(fmt.Errorf("add finalizer to target %s: %w", key, err))
		}
		log.Info("protection decision")
	case RemoveFinalizer:
		out := cm.DeepCopy()
		out.Finalizers = slices.DeleteFunc(out.Finalizers, func(f string) bool { return f == resource.FinalizerInUse })
		// The update carries the resourceVersion the decision was made on, so
		// a target that changed meanwhile is decided again.
		if _, err := c.cfg.Client.CoreV1().ConfigMaps(ns).Update(ctx, out, metav1.UpdateOptions{FieldManager: "flinkgate-protection"}); err != nil {
			return 0, ignoreGone(fmt.Errorf("remove finalizer from target %s: %w", key, err))
		}
		log.Info("protection decision", zap.Duration("terminating_for", in.Now.Sub(*in.DeletionTimestamp).Round(time.Millisecond)))
		c.recorder.Event(cm, corev1.EventTypeNormal, "Released", "no deployment references the target; flinkgate released "+resource.FinalizerInUse)
	case Wait:
		log.Info("protection decision", zap.String("reason", d.Reason))
		c.recorder.Event(cm, corev1.EventTypeNormal, "InUse", d.Reason)
		if d.RequeueAfter > 0 {
			return d.RequeueAfter, nil
		}
		return 0, errWaiting
	}
	return 0, nil
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) namespaceTerminating(ctx context.Context, ns string) (bool, error) {
	return NamespaceTerminating(ctx, c.cfg.Client, ns)
}

// NamespaceTerminating reports whether a namespace is being deleted (or is gone).
func NamespaceTerminating(ctx context.Context, client kubernetes.Interface, ns string) (bool, error) {
	n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get namespace %s: %w", ns, err)
	}
	return n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating, nil
}

// countDangling sets flinkgate_dangling_deployments and warns on each
// deployment that newly dangles. Informers lag each other, so a target the
// cache says is missing or terminating is confirmed with a live read (its
// deployments are then counted from the cache), and a deployment is read
// live before the warning about it; both within maxDanglingReads per count.
func (c *Controller) countDangling(ctx context.Context) {
	c.counts++
	if c.verdicts == nil {
		c.verdicts = map[string]targetVerdict{}
	}
	reads := 0
	seen, seenTargets := map[string]bool{}, map[string]bool{}
	// Targets first, in every namespace: they decide what is counted.
	candidates := map[string][]string{}
	for _, ns := range c.cfg.Namespaces {
		// By target: targets are few and deployments many, and only the
		// deployments of a missing or terminating target are looked at.
		for _, target := range cache.ReferencedTargets(c.deps[ns]) {
			if c.cachedDangling(ns, target) {
				candidates[ns] = append(candidates[ns], target)
				seenTargets[ns+"/"+target] = true
			}
		}
		// The targets read longest ago (or never) first, so every one is
		// read in turn when there are more than a count may read.
		ts := candidates[ns]
		sort.SliceStable(ts, func(i, j int) bool { return c.verdicts[ns+"/"+ts[i]].count < c.verdicts[ns+"/"+ts[j]].count })
		for _, target := range ts {
			if reads == maxDanglingReads {
				break
			}
			reads++
			if why, ok := c.liveTarget(ctx, ns, target); ok {
				c.verdicts[ns+"/"+target] = targetVerdict{why: why, count: c.counts}
			}
		}
	}
	for _, ns := range c.cfg.Namespaces {
		n := 0
		for _, target := range candidates[ns] {
			v := c.verdicts[ns+"/"+target]
			if v.why == "" {
				continue // exists, or not read yet
			}
			for _, d := range cache.ByTarget(c.deps[ns], ns, target) {
				key := ns + "/" + d.Name
				c.mu.Lock()
				warned := c.dangling[key]
				c.mu.Unlock()
				if !warned && reads < maxDanglingReads {
					reads++
					if !c.liveDeployment(ctx, ns, d.Name, target) {
						continue // gone or moved: the cache lags
					}
					c.mu.Lock()
					c.dangling[key] = true
					c.mu.Unlock()
					ref := &corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: ns, Name: d.Name, UID: d.UID, ResourceVersion: d.ResourceVersion}
					c.recorder.Event(ref, corev1.EventTypeWarning, "DanglingReference", v.why)
					c.cfg.Logger.Warn("dangling deployment", zap.String("namespace", ns), zap.String("deployment", d.Name), zap.String("target", target), zap.String("reason", v.why))
				}
				// Counted from the cache: its target is confirmed missing or
				// terminating; the warning waits for a live read.
				n++
				seen[key] = true
			}
		}
		c.cfg.Metrics.dangling.WithLabelValues(ns).Set(float64(n))
	}
	c.mu.Lock()
	for k := range c.dangling {
		if !seen[k] {
			delete(c.dangling, k)
		}
	}
	c.mu.Unlock()
	for k := range c.verdicts {
		if !seenTargets[k] {
			delete(c.verdicts, k)
		}
	}
}

// targetVerdict is what the last live read of a target found.
type targetVerdict struct {
	// why says how the target dangles; empty when it exists.
	why string
	// count is the count that read it.
	count uint64
}

func (c *Controller) cachedDangling(ns, target string) bool {
	obj, exists, err := c.targets[ns].GetIndexer().GetByKey(ns + "/" + target)
	if err != nil || !exists {
		return true
	}
	return obj.(*corev1.ConfigMap).DeletionTimestamp != nil
}

// liveTarget reads a target: why its deployments dangle, empty when it
// exists; ok is false when it could not be read.
func (c *Controller) liveTarget(ctx context.Context, ns, target string) (why string, ok bool) {
	cm, err := c.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, target, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && cm.Labels[resource.LabelKind] != resource.KindTarget):
		return fmt.Sprintf("deployment references target %q, which does not exist; point it at an existing target or delete it", target), true
	case err != nil:
		return "", false
	case cm.DeletionTimestamp != nil:
		return fmt.Sprintf("deployment references target %q, which is being deleted; point it at another target or delete it", target), true
	}
	return "", true
}

// liveDeployment reports whether the deployment is stored and still
// references target.
func (c *Controller) liveDeployment(ctx context.Context, ns, deployment, target string) bool {
	d, err := c.cfg.Meta.Resource(configMaps).Namespace(ns).Get(ctx, deployment, metav1.GetOptions{})
	return err == nil && d.Labels[resource.LabelDeploymentTarget] == target
}

// ReleaseInDyingNamespaces removes FinalizerInUse from every target in the
// served namespaces that are being deleted, when the platform namespace is
// one of them. flinkgate's own pods usually live there and are stopped by
// the namespace controller, maybe before it deletes the targets; nothing
// could release them afterwards. A namespace being deleted accepts no new
// deployments and loses all of its own, so the guarantee is not needed there.
// Any replica runs this on shutdown; it is idempotent.
func ReleaseInDyingNamespaces(ctx context.Context, client kubernetes.Interface, platform string, namespaces []string, log *zap.Logger) error {
	dying, err := NamespaceTerminating(ctx, client, platform)
	if err != nil || !dying {
		return err
	}
	var errs []error
	for _, ns := range namespaces {
		if dying, err := NamespaceTerminating(ctx, client, ns); err != nil || !dying {
			errs = append(errs, err)
			continue
		}
		list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: resource.LabelKind + "=" + resource.KindTarget})
		if err != nil {
			errs = append(errs, fmt.Errorf("list targets in %s: %w", ns, err))
			continue
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if !resource.HasFinalizer(cm.Finalizers, resource.FinalizerInUse) {
				continue
			}
			cm.Finalizers = slices.DeleteFunc(cm.Finalizers, func(f string) bool { return f == resource.FinalizerInUse })
			if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "flinkgate-protection"}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release target %s/%s: %w", ns, cm.Name, err))
				continue
			}
			log.Info("protection decision", zap.String("namespace", ns), zap.String("target", cm.Name), zap.String("action", RemoveFinalizer.String()), zap.String("reason", "the namespace is being deleted"))
		}
	}
	return errors.Join(errs...)
}
