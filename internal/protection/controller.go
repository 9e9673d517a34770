package protection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		out.Finalizers = resource.WithoutFinalizer(out.Finalizers, resource.FinalizerInUse)
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
