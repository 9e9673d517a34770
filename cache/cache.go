// Package cache keeps informer caches of DeploymentTargets and of which
// deployments reference them, and confirms with the API server wherever a
// stale cache would make the webhook admit or deny wrongly.
package cache

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"

	"flinkgate.io/flinkgate/resource"
	"flinkgate.io/flinkgate/webhook"
)

const byTargetIndex = "byTarget"

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Cache answers the webhook's look-ups for the namespaces it serves.
type Cache struct {
	client kubernetes.Interface
	meta   metadata.Interface

	targets     map[string]toolscache.SharedIndexInformer // by namespace
	deployments map[string]toolscache.SharedIndexInformer // by namespace, metadata only

	mu     sync.Mutex
	parsed map[types.UID]parsedTarget // by UID, checked against resourceVersion

	// Admissions this process allowed but the informers may not show yet:
	// the window between the answer and the write reaching the cache.
	now      func() time.Time
	pending  map[string]map[string]time.Time // "ns/target" -> deployment -> expiry
	deleting map[string]time.Time            // "ns/target" -> expiry
	refused  map[string]refusal              // informer -> last refused list or watch
}

// refusal is a refused list or watch, with the informer's resource version
// then: once the informer lists or watches again, the version moves on.
type refusal struct {
	at       time.Time
	version  string
	informer toolscache.SharedIndexInformer
}

// refusedWindow is how long a refused list or watch keeps flinkgate unready:
// longer than the reflector's longest backoff, so a lasting refusal never
// looks healthy between retries.
const refusedWindow = time.Minute

// recentWindow is how long an admitted write counts before the informers
// must have seen it; they usually do within milliseconds.
const recentWindow = 10 * time.Second

type parsedTarget struct {
	resourceVersion string
	target          *resource.Target
	err             error
}

// New builds informers for each namespace; Start runs them.
func New(client kubernetes.Interface, meta metadata.Interface, namespaces []string) (*Cache, error) {
	c := &Cache{
		client:      client,
		meta:        meta,
		targets:     map[string]toolscache.SharedIndexInformer{},
		deployments: map[string]toolscache.SharedIndexInformer{},
		parsed:      map[types.UID]parsedTarget{},
		now:         time.Now,
		pending:     map[string]map[string]time.Time{},
		deleting:    map[string]time.Time{},
		refused:     map[string]refusal{},
	}
	for _, ns := range namespaces {
		tf := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = resource.LabelKind + "=" + resource.KindTarget }),
			informers.WithTransform(dropManagedFields))
		c.targets[ns] = tf.Core().V1().ConfigMaps().Informer()
		if err := c.targets[ns].SetWatchErrorHandlerWithContext(c.watchError("targets in "+ns, c.targets[ns])); err != nil {
			return nil, fmt.Errorf("set target cache error handler: %w", err)
		}

		// Deployments are many and large; the delete check needs only their
		// names and labels, so they are cached as metadata.
		df := metadatainformer.NewFilteredSharedInformerFactory(meta, 0, ns,
			func(o *metav1.ListOptions) { o.LabelSelector = resource.LabelKind + "=" + resource.KindDeployment })
		inf := df.ForResource(configMaps).Informer()
		if err := inf.SetTransform(dropManagedFields); err != nil {
			return nil, fmt.Errorf("set deployment cache transform: %w", err)
		}
		if err := inf.AddIndexers(toolscache.Indexers{byTargetIndex: indexByTarget}); err != nil {
			return nil, fmt.Errorf("add deployment index: %w", err)
		}
		if err := inf.SetWatchErrorHandlerWithContext(c.watchError("deployments in "+ns, inf)); err != nil {
			return nil, fmt.Errorf("set deployment cache error handler: %w", err)
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

func indexByTarget(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	t := m.GetLabels()[resource.LabelDeploymentTarget]
	if t == "" {
		return nil, nil
	}
	return []string{m.GetNamespace() + "/" + t}, nil
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

// watchError remembers refused lists and watches: an informer whose watch
// is forbidden keeps its first list forever and would look synced, so
// readiness must hear of it.
func (c *Cache) watchError(what string, inf toolscache.SharedIndexInformer) toolscache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *toolscache.Reflector, err error) {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			c.mu.Lock()
			c.refused[what] = refusal{at: c.now(), version: inf.LastSyncResourceVersion(), informer: inf}
			c.mu.Unlock()
		}
		if r != nil {
			toolscache.DefaultWatchErrorHandler(ctx, r, err)
		}
	}
}

// Refused reports the caches whose list or watch the API server refused
// within the last minute (a missing RBAC rule) and that have not listed or
// watched successfully since, or nil.
func (c *Cache) Refused() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for what, r := range c.refused {
		if c.now().Sub(r.at) < refusedWindow && r.informer.LastSyncResourceVersion() == r.version {
			names = append(names, what)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("the API server refuses to let flinkgate list or watch %s; check its RBAC", strings.Join(names, ", "))
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
	c.mu.Lock()
	expiry, deleting := c.deleting[namespace+"/"+name]
	c.mu.Unlock()
	if deleting && c.now().Before(expiry) {
		return resource.TargetLookup{Err: fmt.Errorf("target %s/%s is being deleted", namespace, name)}
	}
	if inf, ok := c.targets[namespace]; ok {
		obj, exists, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
		if err == nil && exists {
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				return c.parse(cm)
			}
		}
	}
	cm, err := c.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return resource.TargetLookup{}
	case err != nil:
		return resource.TargetLookup{Err: fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)}
	case cm.Labels[resource.LabelKind] != resource.KindTarget:
		return resource.TargetLookup{}
	}
	return c.parse(cm)
}

// parse memoizes ParseTarget per object version: targets are immutable, so
// every deployment admission would otherwise re-parse the same document.
func (c *Cache) parse(cm *corev1.ConfigMap) resource.TargetLookup {
	c.mu.Lock()
	p, ok := c.parsed[cm.UID]
	c.mu.Unlock()
	if !ok || p.resourceVersion != cm.ResourceVersion || cm.UID == "" {
		t, err := resource.ParseTarget(cm)
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

// AdmittedDeployment records that this process admitted a deployment of a
// target, so a delete of the target that races the write still sees it.
func (c *Cache) AdmittedDeployment(namespace, target, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := namespace + "/" + target
	if c.pending[key] == nil {
		c.pending[key] = map[string]time.Time{}
	}
	c.pending[key][name] = c.now().Add(recentWindow)
}

// AdmittedDeploymentDelete forgets a recently admitted deployment once its
// delete is admitted, so it does not hold its target for the whole window.
func (c *Cache) AdmittedDeploymentDelete(namespace, target, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pending[namespace+"/"+target], name)
}

// AdmittedTargetDelete records that this process allowed a target's delete,
// so a deployment that races it is not admitted for a target about to go.
func (c *Cache) AdmittedTargetDelete(namespace, target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleting[namespace+"/"+target] = c.now().Add(recentWindow)
}

// recentReferrers returns the deployments admitted within recentWindow and
// forgets older ones.
func (c *Cache) recentReferrers(namespace, target string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for key, exp := range c.deleting {
		if !now.Before(exp) {
			delete(c.deleting, key)
		}
	}
	key := namespace + "/" + target
	var names []string
	for name, exp := range c.pending[key] {
		if now.Before(exp) {
			names = append(names, name)
		} else {
			delete(c.pending[key], name)
		}
	}
	if len(c.pending[key]) == 0 {
		delete(c.pending, key)
	}
	return names
}

// Referrers lists the deployments that reference a target. A cache that
// says "none" is confirmed with a live List, since allowing a delete wrongly
// cannot be undone; deployments admitted moments ago count too.
func (c *Cache) Referrers(ctx context.Context, namespace, target string) ([]string, error) {
	names, err := c.referrers(ctx, namespace, target)
	if err != nil {
		return nil, err
	}
	for _, n := range c.recentReferrers(namespace, target) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

func (c *Cache) referrers(ctx context.Context, namespace, target string) ([]string, error) {
	if inf, ok := c.deployments[namespace]; ok {
		objs, err := inf.GetIndexer().ByIndex(byTargetIndex, namespace+"/"+target)
		if err == nil && len(objs) > 0 {
			names := make([]string, 0, len(objs))
			for _, o := range objs {
				if m, ok := o.(metav1.Object); ok {
					names = append(names, m.GetName())
				}
			}
			sort.Strings(names)
			return names, nil
		}
	}
	sel := labels.Set{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: target}.AsSelector().String()
	list, err := c.meta.Resource(configMaps).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
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

var (
	targetsDesc     = prometheus.NewDesc("flinkgate_deployment_targets", "DeploymentTargets in the served namespaces.", nil, nil)
	deploymentsDesc = prometheus.NewDesc("flinkgate_deployments", "Deployments per target, by namespace and target.", []string{"namespace", "target"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Cache) Describe(ch chan<- *prometheus.Desc) {
	ch <- targetsDesc
	ch <- deploymentsDesc
}

// Collect implements prometheus.Collector, counting from the caches at
// scrape time so there is no second copy of the state to keep right.
func (c *Cache) Collect(ch chan<- prometheus.Metric) {
	total := 0
	for _, inf := range c.targets {
		total += len(inf.GetIndexer().ListKeys())
	}
	ch <- prometheus.MustNewConstMetric(targetsDesc, prometheus.GaugeValue, float64(total))
	for ns, inf := range c.deployments {
		for _, key := range inf.GetIndexer().ListIndexFuncValues(byTargetIndex) {
			objs, err := inf.GetIndexer().ByIndex(byTargetIndex, key)
			if err != nil || len(objs) == 0 {
				continue
			}
			target := key[len(ns)+1:]
			ch <- prometheus.MustNewConstMetric(deploymentsDesc, prometheus.GaugeValue, float64(len(objs)), ns, target)
		}
	}
}

// The webhook finds the Recorder by a type assertion; make a mismatch a
// compile error rather than a silently disabled race guard.
var (
	_ webhook.Lookup   = (*Cache)(nil)
	_ webhook.Recorder = (*Cache)(nil)
)
