package flinkcluster

import (
	"context"
	"errors"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
)

// sweep deletes the FlinkDeployments flinkgate labelled whose Deployment is
// gone (or is another object by now), or that are not where the
// Deployment's target puts them; and enqueues every Deployment, so each is
// reconciled at least once per resync. It runs at the start and every
// Resync.
func (r *reconciler) sweep(ctx context.Context) {
	deleted := 0
	// deleteElsewhere tries its refused deletes again after each sweep.
	r.mu.Lock()
	r.refused = nil
	r.mu.Unlock()
	for _, obj := range r.fds.GetIndexer().List() {
		if ctx.Err() != nil {
			return
		}
		fd, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		n, err := r.sweepOne(ctx, fd)
		deleted += n
		if err != nil {
			r.cfg.Metrics.errors.WithLabelValues(ReasonAPI).Inc()
			r.log.Warn("flink sweep failed for one FlinkDeployment; the next sweep tries again",
				zap.String("flinkdeployment", fd.GetNamespace()+"/"+fd.GetName()), zap.String("error", truncate(err.Error(), MaxErrorBytes)))
		}
	}
	for _, inf := range r.cms {
		for _, key := range inf.GetIndexer().ListKeys() {
			r.queue.Add(key)
		}
	}
	r.log.Debug("flink sweep done", zap.Int("deleted", deleted))
}

// deleteOrphans sweeps the FlinkDeployments labelled for one Deployment
// the cache no longer has.
func (r *reconciler) deleteOrphans(ctx context.Context, key string) error {
	var errs []error
	for _, fd := range r.owned(key, "") {
		if _, err := r.sweepOne(ctx, fd); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepOne deletes fd if it is an orphan, confirming with a live read of
// its Deployment first; it returns how many it deleted.
func (r *reconciler) sweepOne(ctx context.Context, fd *unstructured.Unstructured) (int, error) {
	if fd.GetDeletionTimestamp() != nil {
		return 0, nil
	}
	l := fd.GetLabels()
	ns, name, uid := l[flinkop.LabelDeploymentNamespace], l[flinkop.LabelDeploymentName], l[flinkop.LabelDeploymentUID]
	if r.cms[ns] == nil || name == "" {
		// Not a namespace this flinkgate serves: another's to judge.
		return 0, nil
	}
	if obj, exists, err := r.cms[ns].GetIndexer().GetByKey(ns + "/" + name); err == nil && exists {
		if orphanWhy(obj.(*corev1.ConfigMap), fd, uid) == "" {
			return 0, nil
		}
	}
	// The cache says orphan; it may lag, so the API server decides.
	gctx, cancel := context.WithTimeout(ctx, apiTimeout)
	cm, err := r.cfg.Client.CoreV1().ConfigMaps(ns).Get(gctx, name, metav1.GetOptions{})
	cancel()
	why := ""
	switch {
	case apierrors.IsNotFound(err):
		why = "its deployment " + ns + "/" + name + " is gone"
	case err != nil:
		return 0, err
	default:
		why = orphanWhy(cm, fd, uid)
	}
	if why == "" {
		return 0, nil
	}
	if err := r.delete(ctx, fd); err != nil {
		return 0, err
	}
	r.log.Info("flink reconcile", zap.String("deployment", ns+"/"+name), zap.String("flinkdeployment", fd.GetNamespace()+"/"+fd.GetName()),
		zap.String("action", "swept"), zap.String("why", why))
	return 1, nil
}

// orphanWhy says why fd, labelled for the Deployment with uid, does not
// belong to cm; empty when it does.
func orphanWhy(cm *corev1.ConfigMap, fd *unstructured.Unstructured, uid string) string {
	switch {
	case cm.Labels[resource.LabelKind] != resource.KindDeployment:
		return "its deployment " + cm.Namespace + "/" + cm.Name + " is no longer a deployment"
	case string(cm.UID) != uid:
		return "its deployment " + cm.Namespace + "/" + cm.Name + " was deleted and created anew"
	case cm.DeletionTimestamp != nil:
		return "" // the finalizer's business
	}
	if ns := cm.Annotations[resource.AnnotationTargetNamespace]; ns != "" && ns != fd.GetNamespace() {
		return "its deployment's target runs it in namespace " + ns
	}
	return ""
}
