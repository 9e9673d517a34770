package flinkcluster

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
