package flinkcluster

import (
	"context"
	"sync"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	toolscache "k8s.io/client-go/tools/cache"
)

// snapshotWatches are the FlinkStateSnapshot informers, one per namespace
// that holds a FlinkDeployment flinkgate labelled: the operator labels no
// snapshot and the CRD has no selectable field that names its job, so a
// cluster-wide watch would cache every tenant's snapshots. Namespaces are
// as bounded as the targets' namespaces.
type snapshotWatches struct {
	// ctx is the run's, set before any informer starts.
	ctx context.Context

	mu sync.Mutex
	// served: the CRD is served, so informers may start.
	served bool
	byNS   map[string]*snapshotWatch
}

type snapshotWatch struct {
	inf  toolscache.SharedIndexInformer
	stop context.CancelFunc
}

// watchSnapshots marks the CRD served and watches the namespaces that
// already hold a FlinkDeployment of flinkgate's.
func (r *reconciler) watchSnapshots() {
	w := &r.snapshots
	w.mu.Lock()
	w.served = true
	w.mu.Unlock()
	for _, ns := range r.fds.GetIndexer().ListIndexFuncValues(toolscache.NamespaceIndex) {
		w.add(r, ns)
	}
}

// add watches namespace's snapshots unless they are watched, once served.
func (w *snapshotWatches) add(r *reconciler, namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.served || w.byNS[namespace] != nil || w.ctx == nil {
		return
	}
	inf := dynamicinformer.NewFilteredDynamicInformer(r.cfg.Dynamic, FlinkStateSnapshots, namespace, 0,
		toolscache.Indexers{byJob: indexByJob}, nil).Informer()
	if err := inf.SetTransform(dropManagedFields); err != nil {
		r.log.Warn("could not watch FlinkStateSnapshots; lastSavepoint stays empty there", zap.String("namespace", namespace), zap.Error(err))
		return
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    r.enqueueSnapshotOwner,
		UpdateFunc: func(_, obj any) { r.enqueueSnapshotOwner(obj) },
	}); err != nil {
		r.log.Warn("could not watch FlinkStateSnapshots; lastSavepoint stays empty there", zap.String("namespace", namespace), zap.Error(err))
		return
	}
	ctx, stop := context.WithCancel(w.ctx)
	if w.byNS == nil {
		w.byNS = map[string]*snapshotWatch{}
	}
	w.byNS[namespace] = &snapshotWatch{inf: inf, stop: stop}
	go inf.RunWithContext(ctx)
	r.log.Debug("watching FlinkStateSnapshots", zap.String("namespace", namespace))
}

// remove stops watching namespace once it holds no FlinkDeployment of
// flinkgate's (the informer's cache already lacks the deleted one).
func (w *snapshotWatches) remove(r *reconciler, namespace string) {
	if left, err := r.fds.GetIndexer().ByIndex(toolscache.NamespaceIndex, namespace); err != nil || len(left) > 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if sw := w.byNS[namespace]; sw != nil {
		sw.stop()
		delete(w.byNS, namespace)
		r.log.Debug("no longer watching FlinkStateSnapshots", zap.String("namespace", namespace))
	}
}

// isServed reports whether the snapshots' CRD was seen served.
func (w *snapshotWatches) isServed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.served
}

// of lists the cached snapshots of one FlinkDeployment.
func (w *snapshotWatches) of(namespace, name string) []*unstructured.Unstructured {
	w.mu.Lock()
	sw := w.byNS[namespace]
	w.mu.Unlock()
	if sw == nil {
		return nil
	}
	objs, err := sw.inf.GetIndexer().ByIndex(byJob, namespace+"/"+name)
	if err != nil {
		return nil
	}
	list := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			list = append(list, u)
		}
	}
	return list
}
