package flinkcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/internal/resource"
)

// notServed reports whether discovery's answer says FlinkDeployments do
// not exist (the group or the resource unknown), as opposed to not knowing.
func notServed(deployments bool, err error) bool {
	return (err == nil && !deployments) || apierrors.IsNotFound(err)
}

// releaseUnserved removes Finalizer from the cached Deployments being
// deleted while the API server serves no FlinkDeployments: none can exist,
// so none is left to wait for.
func (r *reconciler) releaseUnserved(ctx context.Context) {
	for _, inf := range r.cms {
		for _, obj := range inf.GetIndexer().List() {
			cm, ok := obj.(*corev1.ConfigMap)
			if !ok || cm.DeletionTimestamp == nil || !resource.HasFinalizer(cm.Finalizers, Finalizer) || ctx.Err() != nil {
				continue
			}
			key := cm.Namespace + "/" + cm.Name
			if err := r.removeFinalizer(ctx, cm); err != nil {
				// A conflict: the update's event is in the cache by the next poll.
				r.log.Warn("flink reconcile failed; the next discovery poll tries again", zap.String("deployment", key), zap.String("action", "released"), zap.Error(err))
				continue
			}
			r.log.Info("flink reconcile", zap.String("deployment", key), zap.String("action", "released"), zap.String("why", "the API server serves no FlinkDeployments, so none can exist"))
			r.setState(key, "")
		}
	}
}

// ReleaseInDyingNamespaces releases the Deployments of the served
// namespaces that are being deleted, when the platform namespace is being
// deleted too: flinkgate's pods usually live there and stop before the
// namespace controller deletes the Deployments, and nothing would remove
// Finalizer afterwards. Each Deployment's FlinkDeployment (the one its
// target-namespace annotation names, if labelled for it) is deleted first,
// best effort: the operator may be gone as well, so it is not waited for.
// Any replica may run it on shutdown (protection.ReleaseInDyingNamespaces
// is its twin for targets); it is idempotent and bounded by ctx.
func ReleaseInDyingNamespaces(ctx context.Context, cfg Config) error {
	cfg = withDefaults(cfg)
	nctx, cancel := context.WithTimeout(ctx, apiTimeout)
	dying, err := protection.DyingNamespaces(nctx, cfg.Client, cfg.PlatformNamespace, cfg.Namespaces)
	cancel()
	r := &reconciler{cfg: cfg, log: cfg.Logger}
	errs := []error{err}
	for _, ns := range dying {
		lctx, cancel := context.WithTimeout(ctx, apiTimeout)
		list, err := cfg.Client.CoreV1().ConfigMaps(ns).List(lctx, metav1.ListOptions{LabelSelector: resource.LabelKind + "=" + resource.KindDeployment})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("list deployments in %s: %w", ns, err))
			continue
		}
		for i := range list.Items {
			if err := r.releaseDying(ctx, &list.Items[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// releaseDying deletes one Deployment's FlinkDeployment (best effort) and
// removes Finalizer.
func (r *reconciler) releaseDying(ctx context.Context, cm *corev1.ConfigMap) error {
	if !resource.HasFinalizer(cm.Finalizers, Finalizer) {
		return nil
	}
	key := cm.Namespace + "/" + cm.Name
	log := r.log.With(zap.String("deployment", key))
	if ns := cm.Annotations[resource.AnnotationTargetNamespace]; ns != "" {
		fd, err := r.get(ctx, ns, cm.Name)
		switch {
		case err == nil && ownedBy(fd, cm.Namespace, cm.Name, string(cm.UID)):
			if err := r.delete(ctx, fd); err != nil {
				log.Warn("could not delete the FlinkDeployment of a deployment in a namespace being deleted; releasing it anyway", zap.String("flinkdeployment", ns+"/"+cm.Name), zap.Error(err))
			} else {
				log.Info("flink reconcile", zap.String("flinkdeployment", ns+"/"+cm.Name), zap.String("action", "deleted"), zap.String("why", "the namespace is being deleted and flinkgate is stopping"))
			}
		case err != nil && !apierrors.IsNotFound(err):
			log.Warn("could not read the FlinkDeployment of a deployment in a namespace being deleted; releasing it anyway", zap.String("flinkdeployment", ns+"/"+cm.Name), zap.Error(err))
		}
	}
	if err := r.removeFinalizer(ctx, cm); err != nil {
		return fmt.Errorf("release deployment %s: %w", key, err)
	}
	log.Info("flink reconcile", zap.String("action", "released"), zap.String("why", "the namespace is being deleted and flinkgate is stopping"))
	return nil
}

// removeFinalizer takes Finalizer off a Deployment; one already gone is
// released.
func (r *reconciler) removeFinalizer(ctx context.Context, cm *corev1.ConfigMap) error {
	_, err := r.updateMetadata(ctx, cm, func(c *corev1.ConfigMap) {
		c.Finalizers = resource.WithoutFinalizer(c.Finalizers, Finalizer)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteMoved deletes the Deployment's FlinkDeployments that are not the
// one in the namespace its target now puts it in, best effort (elsewhere).
func (r *reconciler) deleteMoved(ctx context.Context, cm *corev1.ConfigMap, namespace string) {
	for _, fd := range r.owned(cm.Namespace+"/"+cm.Name, string(cm.UID)) {
		if fd.GetNamespace() == namespace && fd.GetName() == cm.Name {
			continue
		}
		r.deleteElsewhere(ctx, cm, fd, "moved to namespace "+namespace)
	}
}

// deleteElsewhere deletes a FlinkDeployment labelled for cm that is not
// where flinkgate puts cm's (its name, in the namespace the webhook
// recorded), and neither fails nor waits when it cannot: only the labels
// tie it to cm, and anyone who may create FlinkDeployments in some
// namespace can label one for another's Deployment (its UID is readable),
// in a namespace the platform may not write or with a finalizer that
// never goes. flinkgate's own such object is the suspended one a move left
// behind (a running deployment cannot move to another namespace), which
// the sweep deletes again if this fails.
func (r *reconciler) deleteElsewhere(ctx context.Context, cm *corev1.ConfigMap, fd *unstructured.Unstructured, why string) {
	log := r.log.With(zap.String("deployment", cm.Namespace+"/"+cm.Name), zap.String("flinkdeployment", fd.GetNamespace()+"/"+fd.GetName()))
	if fd.GetDeletionTimestamp() != nil {
		return
	}
	r.mu.Lock()
	_, refused := r.refused[fd.GetUID()]
	r.mu.Unlock()
	if refused {
		return
	}
	if err := r.delete(ctx, fd); err != nil {
		r.mu.Lock()
		if r.refused == nil {
			r.refused = map[types.UID]struct{}{}
		}
		r.refused[fd.GetUID()] = struct{}{}
		r.mu.Unlock()
		log.Warn("flink reconcile could not delete a FlinkDeployment labelled for the deployment outside its target's namespace; leaving it to the sweep", zap.String("why", why), zap.String("error", truncate(err.Error(), MaxErrorBytes)))
		return
	}
	log.Info("flink reconcile", zap.String("action", "deleted"), zap.String("why", why))
	r.recorder.Eventf(cm, corev1.EventTypeNormal, EventDeleted, "deleted FlinkDeployment %s/%s: %s", fd.GetNamespace(), fd.GetName(), why)
}

// release deletes a terminating Deployment's FlinkDeployment, waits for it
// to be gone (the operator has a finalizer of its own on it), then removes
// Finalizer. Only the one flinkgate put in the namespace the webhook
// recorded is waited for; others labelled for it are deleted best effort
// (deleteElsewhere).
func (r *reconciler) release(ctx context.Context, cm *corev1.ConfigMap) (time.Duration, error) {
	key := cm.Namespace + "/" + cm.Name
	if !resource.HasFinalizer(cm.Finalizers, Finalizer) {
		r.setState(key, "")
		return 0, nil
	}
	log := r.log.With(zap.String("deployment", key))
	ns := cm.Annotations[resource.AnnotationTargetNamespace]
	var own *unstructured.Unstructured
	for _, fd := range r.owned(key, string(cm.UID)) {
		if ns != "" && fd.GetNamespace() == ns && fd.GetName() == cm.Name {
			own = fd
			continue
		}
		r.deleteElsewhere(ctx, cm, fd, "the deployment is being deleted")
	}
	// The cache may lag a create: the one place the target put it is read live.
	if ns != "" {
		live, err := r.get(ctx, ns, cm.Name)
		switch {
		case err == nil && ownedBy(live, cm.Namespace, cm.Name, string(cm.UID)):
			own = live
		case err == nil, apierrors.IsNotFound(err):
			own = nil
		default:
			return 0, apiFailure(err, "read FlinkDeployment %s/%s", ns, cm.Name)
		}
	}
	if own != nil {
		if own.GetDeletionTimestamp() == nil {
			if err := r.delete(ctx, own); err != nil {
				return 0, platformFailure(err, own.GetNamespace(), "delete FlinkDeployment %s/%s", own.GetNamespace(), own.GetName())
			}
			log.Info("flink reconcile", zap.String("flinkdeployment", own.GetNamespace()+"/"+own.GetName()), zap.String("action", "deleted"), zap.String("why", "the deployment is being deleted"))
			r.recorder.Eventf(cm, corev1.EventTypeNormal, EventDeleted, "deleted FlinkDeployment %s/%s; the deployment goes once it is gone", own.GetNamespace(), own.GetName())
		}
		return r.deleteWaits.When(key), nil
	}
	if err := r.removeFinalizer(ctx, cm); err != nil {
		return 0, apiFailure(err, "remove finalizer %s from deployment %s", Finalizer, key)
	}
	log.Info("flink reconcile", zap.String("action", "released"), zap.String("why", "its FlinkDeployment is gone"))
	r.setState(key, "")
	return 0, nil
}
