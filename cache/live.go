package cache

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/resource"
)

// TargetLive finds a target with a live GET, bypassing the informer: the
// webhook asks it when a deployment newly references a target, so a stale
// cache cannot hide that the target is being deleted.
func (c *Cache) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
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
