package flinkcluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// failure is a reconcile that did not get through: its reason (a metric
// label), whether to retry it with backoff, and whether it is a conflict
// (a Warning event of its own).
type failure struct {
	reason string
	retry  bool
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(reason string, retry bool, format string, args ...any) *failure {
	return &failure{reason: reason, retry: retry, err: fmt.Errorf(format, args...)}
}

// apiFailure classifies a refused API call: forbidden (an RBAC refusal or
// another 403: retried, a grant may come), admission_denied (an admission
// webhook or policy said no) and namespace_terminating (nothing can be
// created there any more), invalid (the schema refused the object), none
// of which is retried until the Deployment changes or the resync; api
// (anything else: retried). A conflict (the object changed since it was
// read) has no reason: it is retried and neither counted nor reported.
func apiFailure(err error, format string, args ...any) *failure {
	f := fail(ReasonAPI, true, format+": %w", append(args, err)...)
	switch {
	case apierrors.IsConflict(err):
		// The object changed since it was read: look again, quietly.
		f.reason = ""
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		f.reason, f.retry = ReasonNamespaceTerminating, false
	case apierrors.IsForbidden(err) && admissionDenial(err):
		f.reason, f.retry = ReasonAdmissionDenied, false
	case apierrors.IsForbidden(err):
		f.reason = ReasonForbidden
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		f.reason, f.retry = ReasonInvalid, false
	}
	return f
}

// admissionDenial reports whether a 403 is an admission webhook's denial
// (the API server prefixes its message so) or a ValidatingAdmissionPolicy's,
// not an authorizer's.
func admissionDenial(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	msg := st.Status().Message
	return strings.HasPrefix(msg, "admission webhook ") || strings.Contains(msg, "ValidatingAdmissionPolicy ")
}

// rbacRefusal reports whether a 403 is the authorizer's: its message says
// who "cannot <verb> resource".
func rbacRefusal(err error) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st) && st.Status().Reason == metav1.StatusReasonForbidden &&
		strings.Contains(st.Status().Message, " cannot ") && strings.Contains(st.Status().Message, " resource ")
}

// platformFailure is apiFailure for a write made as the platform, saying
// what grants one RBAC refused.
func platformFailure(err error, namespace, format string, args ...any) *failure {
	f := apiFailure(err, format, args...)
	if f.reason == ReasonForbidden && rbacRefusal(err) {
		f.err = fmt.Errorf("%w; the platform's Role in namespace %s needs the flink.apache.org rules: install the chart with flinkOperator.enabled and %s in appmanager.rbac.additionalNamespaces", f.err, namespace, namespace)
	}
	return f
}

func (r *reconciler) next(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	after, err := r.sync(ctx, key)
	if after == 0 {
		// Not waiting for a FlinkDeployment to go (any more): the next
		// wait starts again from deletePoll.
		r.deleteWaits.Forget(key)
	}
	var f *failure
	switch {
	case errors.As(err, &f) && f.reason == "":
		r.log.Debug("flink reconcile raced a change; retrying", zap.String("deployment", key), zap.Error(err))
		r.queue.AddRateLimited(key)
	case errors.As(err, &f):
		r.failed(key, f)
		if f.retry {
			r.queue.AddRateLimited(key)
		} else {
			r.queue.Forget(key)
		}
	case err != nil:
		r.log.Warn("flink reconcile failed; retrying with backoff", zap.String("deployment", key), zap.Error(err))
		r.queue.AddRateLimited(key)
	case after > 0:
		r.queue.Forget(key)
		r.queue.AddAfter(key, after)
	default:
		r.queue.Forget(key)
	}
	return true
}

// failed counts, logs and (once per distinct message) reports a failure
// on the Deployment.
func (r *reconciler) failed(key string, f *failure) {
	r.cfg.Metrics.errors.WithLabelValues(f.reason).Inc()
	msg := truncate(f.Error(), MaxErrorBytes)
	r.log.Warn("flink reconcile failed", zap.String("deployment", key), zap.String("reason", f.reason), zap.Bool("retry", f.retry), zap.String("error", msg))
	ns, _, _ := toolscache.SplitMetaNamespaceKey(key)
	obj, exists, err := r.cms[ns].GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return // gone: nothing to count or tell
	}
	r.setState(key, StateUnknown)
	r.mu.Lock()
	repeated := r.warnings[key] == msg
	r.warnings[key] = msg
	r.mu.Unlock()
	if repeated {
		return
	}
	reason := EventFailed
	if f.reason == ReasonConflict {
		reason = EventConflict
	}
	r.recorder.Event(obj.(*corev1.ConfigMap), corev1.EventTypeWarning, reason, msg)
}

// sync reconciles one Deployment ConfigMap; it returns when to look again
// (0: on the next event), or an error.
func (r *reconciler) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, _, err := toolscache.SplitMetaNamespaceKey(key)
	if err != nil || r.cms[ns] == nil {
		return 0, nil
	}
	obj, exists, err := r.cms[ns].GetIndexer().GetByKey(key)
	if err != nil {
		return 0, err
	}
	if !exists {
		// Gone without our finalizer (it was removed by hand, or the
		// Deployment predates the reconciler): its FlinkDeployments are
		// orphans.
		r.setState(key, "")
		r.unwait(key)
		r.mu.Lock()
		delete(r.warnings, key)
		r.mu.Unlock()
		if err := r.deleteOrphans(ctx, key); err != nil {
			return 0, apiFailure(err, "delete the FlinkDeployments of deployment %s, which is gone", key)
		}
		return 0, nil
	}
	cm := obj.(*corev1.ConfigMap)
	// A conflict recorded by the last reconcile is recorded anew if it holds.
	r.unwait(key)
	if cm.DeletionTimestamp != nil {
		return r.release(ctx, cm)
	}
	return 0, r.reconcile(ctx, key, cm)
}

// reconcile keeps a live Deployment's FlinkDeployment as its document says
// and reports its state: reads first, then the finalizer (and nothing else
// in that sync), then the FlinkDeployment's write and the annotations.
func (r *reconciler) reconcile(ctx context.Context, key string, cm *corev1.ConfigMap) error {
	dep, err := configmap.ParseDeployment(ctx, cm)
	if err != nil {
		return fail(ReasonTranslate, false, "deployment %s cannot be read: %w", key, err)
	}
	found := r.cfg.Targets.Target(ctx, cm.Namespace, dep.TargetName)
	switch {
	case found.Err != nil:
		return fail(ReasonAPI, true, "look up target %q of deployment %s: %w", dep.TargetName, key, found.Err)
	case found.Target == nil:
		// Before any write: the webhooks deny every write of a Deployment
		// whose target is missing, the finalizer's too.
		return fail(ReasonTargetMissing, true, "deployment %s references target %q, which does not exist; its FlinkDeployment is left as it is", key, dep.TargetName)
	case !found.Target.FlinkAuthorized:
		// Its creator was never asked whether they may create
		// FlinkDeployments in its namespace (it predates the operator).
		return fail(ReasonTargetUnauthorized, false, "deployment %s references target %q, which lacks the annotation %s: it was created before --flink-operator=on, so nobody checked that its creator may create FlinkDeployments in its namespace; delete the target and create it again (its deployments must go first), and flinkgate reconciles its deployments", key, dep.TargetName, resource.AnnotationFlinkAuthorized)
	}
	if !resource.HasFinalizer(cm.Finalizers, Finalizer) {
		if _, err := r.updateMetadata(ctx, cm, func(c *corev1.ConfigMap) { c.Finalizers = append(c.Finalizers, Finalizer) }); err != nil {
			return apiFailure(err, "add finalizer %s to deployment %s", Finalizer, key)
		}
		// The update passed the webhooks, which may have stored another
		// document: its event brings the stored object, parsed anew.
		return nil
	}
	// What the webhooks stored is the only word on where it runs and on
	// whether the document is the patched one: the live target may have
	// changed since (deleted and created anew), and a document rewritten
	// after the mutating webhook never passed the target's patch set.
	namespace := cm.Annotations[resource.AnnotationTargetNamespace]
	if namespace == "" {
		return fail(ReasonUnpatched, false, "deployment %s has no annotation %s: flinkgate's mutating webhook did not admit it (is it registered?); it is translated after its next write passes the webhook", key, resource.AnnotationTargetNamespace)
	}
	if namespace == r.cfg.PlatformNamespace {
		// Admission denies it now, but a Deployment stored before the
		// operator was turned on, on a target without a namespace, may say
		// so: FlinkDeployments (and their pods' tokens) never go there.
		return fail(ReasonPlatformNamespace, false, "deployment %s runs in the platform namespace %s (annotation %s): flinkgate creates no FlinkDeployment there with --flink-operator=on: re-create target %q with spec.kubernetes.namespace set to a namespace of its own, then write the deployment again", key, namespace, resource.AnnotationTargetNamespace, dep.TargetName)
	}
	if t := found.Target; t.UID != "" && cm.Annotations[resource.AnnotationDigest] != resource.Digest(t, cm.Data[resource.DataKey]) {
		return fail(ReasonUnpatched, false, "deployment %s's data[%q] is not the document flinkgate's mutating webhook patched for target %q (annotation %s does not match): it is not translated until its next write passes the webhook", key, resource.DataKey, dep.TargetName, resource.AnnotationDigest)
	}
	fd, err := flinkop.Translate(flinkop.Input{
		Namespace: cm.Namespace, Name: cm.Name, UID: string(cm.UID), Tree: dep.Doc.Tree,
		TargetNamespace: namespace, ServiceAccount: r.cfg.FlinkServiceAccount,
		AllowedServiceAccounts: r.cfg.FlinkAllowedServiceAccounts,
	})
	if err != nil {
		return fail(ReasonTranslate, false, "deployment %s cannot become a FlinkDeployment: %w", key, err)
	}
	desired, err := Desired(fd)
	if err != nil {
		return fail(ReasonTranslate, false, "%w", err)
	}
	current, err := r.write(ctx, cm, desired)
	if err != nil {
		return err
	}
	r.deleteMoved(ctx, cm, desired.GetNamespace())
	r.mu.Lock()
	delete(r.warnings, key)
	r.mu.Unlock()
	return r.report(ctx, key, cm, current, dep)
}

// owned lists the cached FlinkDeployments labelled for the Deployment
// ConfigMap key with this UID ("": any UID).
func (r *reconciler) owned(key, uid string) []*unstructured.Unstructured {
	objs, err := r.fds.GetIndexer().ByIndex(byDeployment, key)
	if err != nil {
		return nil
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if ok && (uid == "" || u.GetLabels()[flinkop.LabelDeploymentUID] == uid) {
			out = append(out, u)
		}
	}
	return out
}

// updateMetadata writes a Deployment ConfigMap's finalizers and
// annotations as flinkgate: an update that changes metadata only (its data
// is as read), and fails with a conflict if the object changed since it
// was read. An update rather than a patch: flinkgate's own Role already
// grants it for the protection controller.
func (r *reconciler) updateMetadata(ctx context.Context, cm *corev1.ConfigMap, change func(*corev1.ConfigMap)) (*corev1.ConfigMap, error) {
	out := cm.DeepCopy()
	change(out)
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	return r.cfg.Client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, out, metav1.UpdateOptions{FieldManager: FieldManager})
}

// report writes the FlinkDeployment's state into the Deployment's
// annotations when it changed, with an event naming the old and new state.
func (r *reconciler) report(ctx context.Context, key string, cm *corev1.ConfigMap, fd *unstructured.Unstructured, dep *resource.Deployment) error {
	cancelled := false
	if spec, ok := dep.Doc.Tree["spec"].(map[string]any); ok {
		cancelled = spec["state"] == "CANCELLED"
	}
	o := Observe(fd)
	state := State(o, cancelled)
	status := StatusJSON(o, r.lastSavepoint(fd.GetNamespace(), fd.GetName()))
	r.setState(key, state)
	old := cm.Annotations[AnnotationState]
	if old == state && cm.Annotations[AnnotationStatus] == status {
		return nil
	}
	_, err := r.updateMetadata(ctx, cm, func(c *corev1.ConfigMap) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[AnnotationState], c.Annotations[AnnotationStatus] = state, status
	})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return apiFailure(err, "write the state of deployment %s", key)
	}
	if old != state {
		from := old
		if from == "" {
			from = "none"
		}
		r.log.Info("flink reconcile", zap.String("deployment", key), zap.String("action", "state"), zap.String("from", from), zap.String("state", state))
		r.recorder.Eventf(cm, corev1.EventTypeNormal, EventStateChanged, "Flink cluster state %s -> %s", from, state)
	}
	return nil
}

// lastSavepoint is the newest completed savepoint of a FlinkDeployment.
func (r *reconciler) lastSavepoint(namespace, name string) string {
	return LastSavepoint(r.snapshots.of(namespace, name))
}
