package check

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/resource"
	"flinkgate.io/flinkgate/resource/configmap"
	"flinkgate.io/flinkgate/webhook"
)

// Targets answers the webhook's look-ups from the targets given as files and
// those admitted earlier in the same check, then from Cluster when set.
type Targets struct {
	files map[string]*corev1.ConfigMap
	// Cluster answers for targets no file holds; nil: they do not exist.
	Cluster webhook.Lookup
}

var _ webhook.Lookup = (*Targets)(nil)

// Add makes a target ConfigMap known; a later one of the same name replaces it.
func (t *Targets) Add(cm *corev1.ConfigMap) {
	if t.files == nil {
		t.files = map[string]*corev1.ConfigMap{}
	}
	t.files[cm.Namespace+"/"+cm.Name] = cm
}

// Target implements webhook.Lookup.
// TargetLive implements webhook.Lookup: the files are all there is to ask.
func (t *Targets) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	return t.Target(ctx, namespace, name)
}

func (t *Targets) Target(ctx context.Context, namespace, name string) resource.TargetLookup {
	if cm, ok := t.files[namespace+"/"+name]; ok {
		tg, err := configmap.ParseTarget(cm)
		return resource.TargetLookup{Target: tg, Err: err}
	}
	if t.Cluster != nil {
		return t.Cluster.Target(ctx, namespace, name)
	}
	return resource.TargetLookup{}
}

// Referrers implements webhook.Lookup. A check never deletes, so no policy
// asks; answering "none" keeps the type honest without a cluster.
func (t *Targets) Referrers(ctx context.Context, namespace, target string) ([]string, error) {
	if t.Cluster != nil {
		return t.Cluster.Referrers(ctx, namespace, target)
	}
	return nil, nil
}

// Cluster reads targets from a live API server, as the webhook's cache would
// confirm them.
type Cluster struct{ Client kubernetes.Interface }

var _ webhook.Lookup = Cluster{}

// TargetLive implements webhook.Lookup; every look-up here is live.
func (c Cluster) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	return c.Target(ctx, namespace, name)
}

// Target implements webhook.Lookup.
func (c Cluster) Target(ctx context.Context, namespace, name string) resource.TargetLookup {
	cm, err := c.Client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if found, ok := configmap.FromGet(namespace, name, cm, err); !ok {
		return found
	}
	t, err := configmap.ParseTarget(cm)
	return resource.TargetLookup{Target: t, Err: err}
}

// Referrers implements webhook.Lookup.
func (c Cluster) Referrers(ctx context.Context, namespace, target string) ([]string, error) {
	list, err := c.Client.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: resource.LabelKind + "=" + resource.KindDeployment + "," + resource.LabelDeploymentTarget + "=" + target,
	})
	if err != nil {
		return nil, fmt.Errorf("list deployments of %s/%s: %w", namespace, target, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return names, nil
}
