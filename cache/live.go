package cache

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/resource"
	"flinkgate.io/flinkgate/resource/configmap"
)

// TargetLive finds a target with a live GET, bypassing the informer: the
// webhook asks it when a deployment newly references a target, so a stale
// cache cannot hide that the target is being deleted.
func (c *Cache) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	cm, err := c.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if found, ok := configmap.FromGet(namespace, name, cm, err); !ok {
		return found
	}
	return c.parse(cm)
}
