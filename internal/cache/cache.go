// Package cache answers flinkgate's look-ups (a target by name, the
// deployments that reference a target) from informer caches, confirming with
// the API server wherever a stale cache would make the webhook admit or deny
// wrongly.
package cache

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/semaphore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"flinkgate.io/flinkgate/internal/health"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

const byTargetIndex = "byTarget"

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Cache answers the webhook's look-ups for the namespaces it serves.
type Cache struct {
	client kubernetes.Interface // live reads
	meta   metadata.Interface   // live reads
	live   *semaphore.Weighted  // MaxLiveReads

	targets     map[string]toolscache.SharedIndexInformer // by namespace
	deployments map[string]toolscache.SharedIndexInformer // by namespace, metadata only

	mu     sync.Mutex
	parsed map[types.UID]parsedTarget // by UID, checked against resourceVersion
}

type parsedTarget struct {
	resourceVersion string
	target          *resource.Target
	err             error
}

// Clients are the cache's connections to the API server.
type Clients struct {
	// Client and Meta list and watch for the informers: background work,
	// which a client-side rate limit keeps from flooding the API server
	// when every watch restarts at once.
	Client kubernetes.Interface
	Meta   metadata.Interface
	// LiveClient and LiveMeta make the reads an admission waits for. They
	// must not queue behind the informers' rate limit: that wait is added
	// to every write of a deployment and, once it passes the webhook
	// timeout, fails the write. Admissions bound them (at most one read
	// each, MaxLiveReads at once) and the API server's priority and
	// fairness limits them.
	LiveClient kubernetes.Interface
	LiveMeta   metadata.Interface
}

// ClientsFor builds the cache's clients from one configuration: the
// informers' with its rate limit, the live reads' without any.
func ClientsFor(cfg *rest.Config) (Clients, error) {
	live := rest.CopyConfig(cfg)
	live.RateLimiter, live.QPS = nil, -1 // a negative QPS builds no limiter
	var out Clients
	var err error
	if out.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return Clients{}, fmt.Errorf("build kubernetes client: %w", err)
	}
	if out.Meta, err = metadata.NewForConfig(cfg); err != nil {
		return Clients{}, fmt.Errorf("build metadata client: %w", err)
	}
	if out.LiveClient, err = kubernetes.NewForConfig(live); err != nil {
		return Clients{}, fmt.Errorf("build live kubernetes client: %w", err)
	}
	if out.LiveMeta, err = metadata.NewForConfig(live); err != nil {
		return Clients{}, fmt.Errorf("build live metadata client: %w", err)
	}
	return out, nil
}

// New builds informers for each namespace, reporting refused lists and
// watches to refusals; Start runs them.
func New(clients Clients, namespaces []string, refusals *health.Refusals) (*Cache, error) {
	client, meta := clients.Client, clients.Meta
	c := &Cache{
		client:      clients.LiveClient,
		meta:        clients.LiveMeta,
		live:        semaphore.NewWeighted(MaxLiveReads),
		targets:     map[string]toolscache.SharedIndexInformer{},
		deployments: map[string]toolscache.SharedIndexInformer{},
		parsed:      map[types.UID]parsedTarget{},
	}
	for _, ns := range namespaces {
		tf := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = resource.LabelKind + "=" + resource.KindTarget }),
			informers.WithTransform(dropManagedFields))
		c.targets[ns] = tf.Core().V1().ConfigMaps().Informer()
		if err := refusals.Track("targets in "+ns, c.targets[ns]); err != nil {
			return nil, err
		}

		// Deployments are many and large; the look-ups need only their
		// names and targets, so they are cached as compact records.
		inf, err := NewDeploymentInformer(meta, ns)
		if err != nil {
			return nil, err
		}
		if err := refusals.Track("deployments in "+ns, inf); err != nil {
			return nil, err
		}
		c.deployments[ns] = inf
	}
	return c, nil
}

// dropManagedFields keeps the caches small: server-side apply bookkeeping
// is never read.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// Start runs the informers until ctx ends.
func (c *Cache) Start(ctx context.Context) {
	for _, inf := range c.all() {
		go inf.RunWithContext(ctx)
	}
}

// Synced reports whether every informer has listed once.
func (c *Cache) Synced() bool {
	for _, inf := range c.all() {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// WaitForSync blocks until the caches have synced or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	var synced []toolscache.InformerSynced
	for _, inf := range c.all() {
		synced = append(synced, inf.HasSynced)
	}
	return toolscache.WaitForCacheSync(ctx.Done(), synced...)
}

func (c *Cache) all() []toolscache.SharedIndexInformer {
	var out []toolscache.SharedIndexInformer
	for _, inf := range c.targets {
		out = append(out, inf)
	}
	for _, inf := range c.deployments {
		out = append(out, inf)
	}
	return out
}

// Target finds a target in the cache; a target the cache lacks (just created,
// or a namespace not served) is confirmed with a live GET before a
// deployment is denied for it.
func (c *Cache) Target(ctx context.Context, namespace, name string) resource.TargetLookup {
	if inf, ok := c.targets[namespace]; ok {
		obj, exists, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
		if err == nil && exists {
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				return c.parse(cm)
			}
		}
	}
	return c.TargetLive(ctx, namespace, name)
}

// parse memoizes ParseTarget per object version: targets are immutable, so
// every deployment admission would otherwise re-parse the same document.
func (c *Cache) parse(cm *corev1.ConfigMap) resource.TargetLookup {
	c.mu.Lock()
	p, ok := c.parsed[cm.UID]
	c.mu.Unlock()
	if !ok || p.resourceVersion != cm.ResourceVersion || cm.UID == "" {
		t, err := configmap.ParseTarget(context.Background(), cm)
		p = parsedTarget{resourceVersion: cm.ResourceVersion, target: t, err: err}
		if cm.UID != "" {
			c.mu.Lock()
			if len(c.parsed) > 10000 {
				// Targets are few; a map this large means churn, so start over.
				c.parsed = map[types.UID]parsedTarget{}
			}
			c.parsed[cm.UID] = p
			c.mu.Unlock()
		}
	}
	return resource.TargetLookup{Target: p.target, Err: p.err}
}

// Referrers lists the deployments that reference a target, sorted. A cache
// that says "none" is confirmed with a live List, since allowing a delete
// wrongly cannot be undone.
func (c *Cache) Referrers(ctx context.Context, namespace, target string) ([]string, error) {
	if inf, ok := c.deployments[namespace]; ok {
		if deps := ByTarget(inf, namespace, target); len(deps) > 0 {
			names := make([]string, 0, len(deps))
			for _, d := range deps {
				names = append(names, d.Name)
			}
			sort.Strings(names)
			return names, nil
		}
	}
	release, err := c.liveSlot(ctx)
	if err != nil {
		return nil, fmt.Errorf("list deployments of target %s/%s: %w", namespace, target, err)
	}
	defer release()
	return LiveReferrers(ctx, c.meta, namespace, target)
}

// LiveReferrers lists, from the API server rather than a cache, the
// deployments that reference a target, sorted.
func LiveReferrers(ctx context.Context, meta metadata.Interface, namespace, target string) ([]string, error) {
	sel := labels.Set{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: target}.AsSelector().String()
	list, err := meta.Resource(configMaps).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list deployments of target %s/%s: %w", namespace, target, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, item := range list.Items {
		names = append(names, item.Name)
	}
	sort.Strings(names)
	return names, nil
}

// TargetCount implements metrics.State.
func (c *Cache) TargetCount() int {
	total := 0
	for _, inf := range c.targets {
		total += len(inf.GetIndexer().ListKeys())
	}
	return total
}

// EachTargetDeployments implements metrics.State.
func (c *Cache) EachTargetDeployments(fn func(namespace, target string, deployments int)) {
	for ns, inf := range c.deployments {
		for _, key := range inf.GetIndexer().ListIndexFuncValues(byTargetIndex) {
			objs, err := inf.GetIndexer().ByIndex(byTargetIndex, key)
			if err != nil || len(objs) == 0 {
				continue
			}
			fn(ns, key[len(ns)+1:], len(objs))
		}
	}
}

// DeploymentInformers returns the deployment informer of each served
// namespace, for the protection controller to share.
func (c *Cache) DeploymentInformers() map[string]toolscache.SharedIndexInformer {
	out := make(map[string]toolscache.SharedIndexInformer, len(c.deployments))
	for ns, inf := range c.deployments {
		out[ns] = inf
	}
	return out
}
