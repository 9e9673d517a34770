package cache

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// TargetLive finds a target with a live GET, bypassing the informer: the
// webhook asks it when a deployment newly references a target, so a stale
// cache cannot hide that the target is being deleted
// (docs/operations.md#why-a-new-reference-reads-its-target-live).
func (c *Cache) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	found := c.targetLive(ctx, namespace, name)
	found.Live = true
	return found
}

func (c *Cache) targetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	release, err := c.liveSlot(ctx)
	if err != nil {
		return resource.TargetLookup{Err: fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)}
	}
	defer release()
	cm, err := c.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if found, ok := configmap.FromGet(namespace, name, cm, err); !ok {
		return found
	}
	return c.parse(cm)
}

// MaxLiveReads bounds the live reads in flight at once. Admissions need
// few (a read takes a few milliseconds, so 32 at once is thousands a
// second), but anyone who can reach the webhook port can send reviews that
// each ask for one, and these reads have no client-side rate limit.
const MaxLiveReads = 32

// liveSlot waits, until ctx ends, for one of the MaxLiveReads slots.
func (c *Cache) liveSlot(ctx context.Context) (release func(), err error) {
	if err := c.live.Acquire(ctx, 1); err != nil {
		return nil, fmt.Errorf("wait for one of %d live reads: %w", MaxLiveReads, err)
	}
	return func() { c.live.Release(1) }, nil
}
