package flinkcluster

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"

	"flinkgate.io/flinkgate/internal/flinkop"
)

// write creates or applies the FlinkDeployment unless the stored one is up
// to date, and returns the stored object. It never writes to one labelled
// for another Deployment, or not labelled.
func (r *reconciler) write(ctx context.Context, cm *corev1.ConfigMap, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	fdKey := desired.GetNamespace() + "/" + desired.GetName()
	log := r.log.With(zap.String("deployment", cm.Namespace+"/"+cm.Name), zap.String("flinkdeployment", fdKey))
	var current *unstructured.Unstructured
	if obj, exists, err := r.fds.GetIndexer().GetByKey(fdKey); err == nil && exists {
		current = obj.(*unstructured.Unstructured)
	} else {
		created, err := r.create(ctx, desired)
		switch {
		case err == nil:
			log.Info("flink reconcile", zap.String("action", "created"), zap.String("spec_hash", desired.GetAnnotations()[AnnotationSpecHash]))
			r.recorder.Eventf(cm, corev1.EventTypeNormal, EventCreated, "created FlinkDeployment %s", fdKey)
			return created, nil
		case !apierrors.IsAlreadyExists(err):
			return nil, platformFailure(err, desired.GetNamespace(), "create FlinkDeployment %s", fdKey)
		}
		// Not in the cache: not labelled by flinkgate, or the watch lags.
		if current, err = r.get(ctx, desired.GetNamespace(), desired.GetName()); err != nil {
			return nil, apiFailure(err, "read FlinkDeployment %s", fdKey)
		}
	}
	if !ownedBy(current, cm.Namespace, cm.Name, string(cm.UID)) {
		l := current.GetLabels()
		owner := "no Deployment (it is not flinkgate's)"
		if uid := l[flinkop.LabelDeploymentUID]; uid != "" {
			owner = fmt.Sprintf("Deployment %s/%s (uid %s)", l[flinkop.LabelDeploymentNamespace], l[flinkop.LabelDeploymentName], uid)
		}
		// Its delete event (a labelled one's: the informer sees no other)
		// brings this Deployment back at once.
		r.wait(fdKey, cm.Namespace+"/"+cm.Name)
		return nil, fail(ReasonConflict, false, "FlinkDeployment %s already exists and belongs to %s; flinkgate does not adopt it: delete or rename it, or rename this Deployment", fdKey, owner)
	}
	if upToDate(current, desired) {
		return current, nil
	}
	updated, err := r.apply(ctx, current, desired)
	if err != nil {
		return nil, platformFailure(err, desired.GetNamespace(), "apply FlinkDeployment %s", fdKey)
	}
	log.Info("flink reconcile", zap.String("action", "updated"), zap.String("spec_hash", desired.GetAnnotations()[AnnotationSpecHash]))
	r.recorder.Eventf(cm, corev1.EventTypeNormal, EventUpdated, "updated FlinkDeployment %s", fdKey)
	return updated, nil
}

func (r *reconciler) get(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	return r.cfg.Dynamic.Resource(FlinkDeployments).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

// create creates with strict field validation, then hands the fields to
// server-side apply (csaupgrade) so that a field later removed from the
// document is removed from the object.
func (r *reconciler) create(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	cctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	out, err := r.cfg.Writer.Resource(FlinkDeployments).Namespace(desired.GetNamespace()).Create(cctx, desired,
		metav1.CreateOptions{FieldManager: FieldManager, FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		return nil, err
	}
	if up, err := r.upgradeManagedFields(ctx, out); err == nil {
		out = up
	} else {
		// The next apply tries again: it upgrades first.
		r.log.Debug("upgrading managed fields after create failed", zap.Error(err))
	}
	return out, nil
}

// upgradeManagedFields moves the fields flinkgate owns by its create (an
// Update operation) to its apply manager; nothing when already done.
func (r *reconciler) upgradeManagedFields(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(obj, sets.New(FieldManager), FieldManager)
	if err != nil || patch == nil {
		return obj, err
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	return r.cfg.Writer.Resource(FlinkDeployments).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{})
}

// apply is the server-side apply of desired (force, strict), after the
// managed fields' upgrade when a create left it undone.
func (r *reconciler) apply(ctx context.Context, current, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if _, err := r.upgradeManagedFields(ctx, current); err != nil {
		return nil, fmt.Errorf("upgrade managed fields: %w", err)
	}
	body, err := desired.MarshalJSON()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	force := true
	return r.cfg.Writer.Resource(FlinkDeployments).Namespace(desired.GetNamespace()).Patch(ctx, desired.GetName(), types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force, FieldValidation: metav1.FieldValidationStrict})
}

// delete deletes a FlinkDeployment as the platform, that very object only
// (a UID precondition), unless its deletion has begun.
func (r *reconciler) delete(ctx context.Context, fd *unstructured.Unstructured) error {
	if fd.GetDeletionTimestamp() != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	uid := fd.GetUID()
	err := r.cfg.Writer.Resource(FlinkDeployments).Namespace(fd.GetNamespace()).Delete(ctx, fd.GetName(),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or another object by now
	}
	return err
}

// wait records that the Deployment key lost the FlinkDeployment fdKey's
// name, so the delete of that FlinkDeployment enqueues it.
func (r *reconciler) wait(fdKey, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unwaitLocked(key)
	if r.waiting[fdKey] == nil {
		r.waiting[fdKey] = map[string]struct{}{}
	}
	r.waiting[fdKey][key] = struct{}{}
	r.waitsOn[key] = fdKey
}

// unwait forgets what the Deployment key waited for.
func (r *reconciler) unwait(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unwaitLocked(key)
}

func (r *reconciler) unwaitLocked(key string) {
	fdKey, ok := r.waitsOn[key]
	if !ok {
		return
	}
	delete(r.waitsOn, key)
	delete(r.waiting[fdKey], key)
	if len(r.waiting[fdKey]) == 0 {
		delete(r.waiting, fdKey)
	}
}

// enqueueWaiting enqueues the Deployments that lost the name of the
// FlinkDeployment fdKey, which is gone.
func (r *reconciler) enqueueWaiting(fdKey string) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.waiting[fdKey]))
	for k := range r.waiting[fdKey] {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	for _, k := range keys {
		r.queue.Add(k)
	}
}
