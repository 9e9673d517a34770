package protection

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/internal/resource"
)

// NamespaceTerminating reports whether a namespace is being deleted (or is gone).
func NamespaceTerminating(ctx context.Context, client kubernetes.Interface, ns string) (bool, error) {
	n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get namespace %s: %w", ns, err)
	}
	return n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating, nil
}

// DyingNamespaces returns the served namespaces being deleted, when the
// platform namespace is being deleted too (else none): where a finalizer
// flinkgate keeps must be released on shutdown, since flinkgate, living in
// the platform namespace, will not be back to release it. The error joins
// the namespaces it could not ask about.
func DyingNamespaces(ctx context.Context, client kubernetes.Interface, platform string, namespaces []string) ([]string, error) {
	dying, err := NamespaceTerminating(ctx, client, platform)
	if err != nil || !dying {
		return nil, err
	}
	var out []string
	var errs []error
	for _, ns := range namespaces {
		switch dying, err := NamespaceTerminating(ctx, client, ns); {
		case err != nil:
			errs = append(errs, err)
		case dying:
			out = append(out, ns)
		}
	}
	return out, errors.Join(errs...)
}

// ReleaseInDyingNamespaces removes FinalizerInUse from every target in the
// served namespaces that are being deleted, when the platform namespace is
// one of them. flinkgate's own pods usually live there and are stopped by
// the namespace controller, maybe before it deletes the targets; nothing
// could release them afterwards. A namespace being deleted accepts no new
// deployments and loses all of its own, so the guarantee is not needed there.
// Any replica runs this on shutdown; it is idempotent.
func ReleaseInDyingNamespaces(ctx context.Context, client kubernetes.Interface, platform string, namespaces []string, log *zap.Logger) error {
	dying, err := DyingNamespaces(ctx, client, platform, namespaces)
	errs := []error{err}
	for _, ns := range dying {
		list, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: resource.LabelKind + "=" + resource.KindTarget})
		if err != nil {
			errs = append(errs, fmt.Errorf("list targets in %s: %w", ns, err))
			continue
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if !resource.HasFinalizer(cm.Finalizers, resource.FinalizerInUse) {
				continue
			}
			cm.Finalizers = resource.WithoutFinalizer(cm.Finalizers, resource.FinalizerInUse)
			if _, err := client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "flinkgate-protection"}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("release target %s/%s: %w", ns, cm.Name, err))
				continue
			}
			log.Info("protection decision", zap.String("namespace", ns), zap.String("target", cm.Name), zap.String("action", RemoveFinalizer.String()), zap.String("reason", "the namespace is being deleted"))
		}
	}
	return errors.Join(errs...)
}
