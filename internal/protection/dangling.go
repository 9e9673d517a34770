package protection

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/resource"
)

// danglingInterval is how often the dangling gauge is recomputed.
const danglingInterval = 2 * time.Second

// maxDanglingReads bounds the live GETs one count of dangling deployments
// makes on the client the informers share (50 requests/s): 5/s. Each target
// the caches say is missing or terminating is read once, the targets read
// longest ago first; a deployment is read once, before the warning about it,
// and those beyond the bound are read in later counts.
const maxDanglingReads = 10

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

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
