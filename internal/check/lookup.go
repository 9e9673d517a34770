package check

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
	"flinkgate.io/flinkgate/webhook"
)

// Targets answers the webhook's look-ups as the API server would see them:
// a target stored in Cluster is the one that counts, and a target given as a
// file only stands in for one that is not stored (applying the files would
// create it). Without a Cluster the files are all there is. Not safe for
// concurrent use: a check admits one input at a time.
type Targets struct {
	files map[string]fileTarget
	// Cluster answers for stored targets; nil: nothing is stored.
	Cluster webhook.Lookup
	// stored caches the cluster's answers, so a target is read once.
	stored map[string]resource.TargetLookup
	// consulted collects the conflicts the look-ups since the last call of
	// Conflicts met.
	consulted []Conflict
}

type fileTarget struct {
	source string
	cm     *corev1.ConfigMap
}

// Conflict is a target given as a file whose stored namesake has another
// spec: the stored one decides, and applying the file would be denied.
type Conflict struct {
	// Source is the file that holds the target.
	Source          string
	Namespace, Name string
}

func (c Conflict) String() string {
	return fmt.Sprintf("target %q in %s differs from the target of that name stored in namespace %q; the stored one is used, because targets are immutable and applying %s would be denied; to change a target, create a new one and point the deployments at it",
		c.Name, c.Source, c.Namespace, c.Source)
}

var _ webhook.Lookup = (*Targets)(nil)

// Add makes a target ConfigMap from source known; a later one of the same
// name replaces it.
func (t *Targets) Add(source string, cm *corev1.ConfigMap) {
	if t.files == nil {
		t.files = map[string]fileTarget{}
	}
	t.files[cm.Namespace+"/"+cm.Name] = fileTarget{source: source, cm: cm}
}

// TargetLive implements webhook.Lookup: every answer here is as fresh as it
// gets within one check.
func (t *Targets) TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup {
	return t.Target(ctx, namespace, name)
}

// Target implements webhook.Lookup.
func (t *Targets) Target(ctx context.Context, namespace, name string) resource.TargetLookup {
	key := namespace + "/" + name
	file, inFile := t.files[key]
	if t.Cluster != nil {
		found, ok := t.stored[key]
		if !ok {
			found = t.Cluster.Target(ctx, namespace, name)
			if found.Err == nil || !isUnavailable(found.Err) {
				if t.stored == nil {
					t.stored = map[string]resource.TargetLookup{}
				}
				t.stored[key] = found
			}
		}
		if found.Target != nil || found.Err != nil {
			if inFile && found.Target != nil && !sameTargetSpec(file.cm, found.Target) {
				t.consulted = append(t.consulted, Conflict{Source: file.source, Namespace: namespace, Name: name})
			}
			return found
		}
	}
	if inFile {
		tg, err := configmap.ParseTarget(context.Background(), file.cm)
		return resource.TargetLookup{Target: tg, Err: err}
	}
	return resource.TargetLookup{}
}

// Conflicts returns the conflicts the look-ups met since it was last called,
// each once.
func (t *Targets) Conflicts() []Conflict {
	var out []Conflict
	for _, c := range t.consulted {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	t.consulted = nil
	return out
}

// sameTargetSpec compares a file's target with the stored one as data, as
// the webhook's immutability rule does; a file that does not parse differs.
func sameTargetSpec(file *corev1.ConfigMap, stored *resource.Target) bool {
	t, err := configmap.ParseTarget(context.Background(), file)
	return err == nil && jsonvalue.Equal(t.Spec, stored.Spec)
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
	t, err := configmap.ParseTarget(ctx, cm)
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

// isUnavailable tells a failed look-up (worth asking again) from an invalid
// stored target.
func isUnavailable(err error) bool {
	var inv *resource.InvalidError
	return !errors.As(err, &inv)
}

// Stored reads the ConfigMap stored under cm's name, the object a write of
// cm would update; nil when there is none.
func (c Cluster) Stored(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	got, err := c.Client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return got, nil
}
