package cache

import (
	"fmt"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"

	"flinkgate.io/flinkgate/internal/resource"
)

// Deployment is all flinkgate keeps of a cached deployment ConfigMap: what
// the look-ups, the gauges and the protection controller read. Deployments
// are many (issue 12 counts 100,000 in a namespace), and a
// PartialObjectMetadata with its label map costs about ten times as much.
type Deployment struct {
	Namespace string // interned: shared by every deployment of the namespace
	Name      string
	// Target is the value of the deployment-target label, interned; empty
	// when the label is missing.
	Target          string
	UID             types.UID
	ResourceVersion string
	Terminating     bool // deletionTimestamp is set
}

// GetObjectMeta makes a Deployment an object client-go's stores can key
// (namespace/name) and whose updates the informer tells from resyncs
// (resourceVersion); it is called per event, never kept.
func (d *Deployment) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name, UID: d.UID, ResourceVersion: d.ResourceVersion}
}

// compactDeployment is the deployment informer's transform: it turns a
// listed or watched PartialObjectMetadata into a Deployment before the
// informer stores it, so the annotations (kubectl's last-applied copy of
// the document), managed fields and label maps are garbage at once.
// Name, UID and resourceVersion share one allocation.
func compactDeployment(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil // a tombstone, or already compact
	}
	s := m.Name + string(m.UID) + m.ResourceVersion
	n, u := len(m.Name), len(m.Name)+len(m.UID)
	return &Deployment{
		Namespace:       intern(m.Namespace),
		Name:            s[:n],
		Target:          intern(m.Labels[resource.LabelDeploymentTarget]),
		UID:             types.UID(s[n:u]),
		ResourceVersion: s[u:],
		Terminating:     m.DeletionTimestamp != nil,
	}, nil
}

func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// indexByTarget indexes deployments by namespace/target.
func indexByTarget(obj any) ([]string, error) {
	d, ok := obj.(*Deployment)
	if !ok || d.Target == "" {
		return nil, nil
	}
	return []string{d.Namespace + "/" + d.Target}, nil
}

// NewDeploymentInformer builds the informer of a namespace's deployments:
// metadata only, stored as *Deployment, indexed by target (ByTarget). The
// webhook's look-ups and the protection controller share one.
func NewDeploymentInformer(meta metadata.Interface, namespace string) (toolscache.SharedIndexInformer, error) {
	// Built directly rather than from a factory, which would add a
	// namespace index: one more set of every key, useless in an informer of
	// one namespace.
	inf := metadatainformer.NewFilteredMetadataInformer(meta, configMaps, namespace, 0,
		toolscache.Indexers{byTargetIndex: indexByTarget},
		func(o *metav1.ListOptions) { o.LabelSelector = resource.LabelKind + "=" + resource.KindDeployment }).Informer()
	if err := inf.SetTransform(compactDeployment); err != nil {
		return nil, fmt.Errorf("set deployment cache transform: %w", err)
	}
	return inf, nil
}

// ByTarget returns the cached deployments of namespace that reference
// target, in no particular order.
func ByTarget(inf toolscache.SharedIndexInformer, namespace, target string) []*Deployment {
	objs, err := inf.GetIndexer().ByIndex(byTargetIndex, namespace+"/"+target)
	if err != nil {
		return nil
	}
	out := make([]*Deployment, 0, len(objs))
	for _, o := range objs {
		if d, ok := o.(*Deployment); ok {
			out = append(out, d)
		}
	}
	return out
}

// ReferencedTargets returns the targets that cached deployments of the
// informer reference, each once, in no particular order.
func ReferencedTargets(inf toolscache.SharedIndexInformer) []string {
	keys := inf.GetIndexer().ListIndexFuncValues(byTargetIndex)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, t, err := toolscache.SplitMetaNamespaceKey(k); err == nil && t != "" {
			out = append(out, t)
		}
	}
	return out
}
