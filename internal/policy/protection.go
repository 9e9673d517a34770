package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// The in-use protection rules: every target carries resource.FinalizerInUse,
// only flinkgate removes it while deployments reference the target, and a
// terminating target takes no new references.

// withFinalizer returns cm's finalizers with FinalizerInUse added, copying.
func withFinalizer(cm *corev1.ConfigMap) []string {
	if resource.HasFinalizer(cm.Finalizers, resource.FinalizerInUse) {
		return cm.Finalizers
	}
	return append(slices.Clone(cm.Finalizers), resource.FinalizerInUse)
}

// RemovesFinalizer reports whether an UPDATE of a target takes
// FinalizerInUse away, and is not flinkgate's own: then the router must
// look the target's referrers up for FinalizerRemovalValidate.
func RemovesFinalizer(r Request) bool {
	return r.Operation == Update && r.Old != nil && r.New != nil && !r.ByFlinkgate &&
		resource.HasFinalizer(r.Old.Finalizers, resource.FinalizerInUse) &&
		!resource.HasFinalizer(r.New.Finalizers, resource.FinalizerInUse)
}

// FinalizerRemovalValidate lets anyone but flinkgate remove the finalizer
// only from a target that no deployment references (referrers from a live
// check, or err why there is none).
func FinalizerRemovalValidate(r Request, referrers []string, err error) Decision {
	name := r.Old.Name
	if r.ByFlinkgate {
		return Allowed().WithTarget(name)
	}
	if err != nil {
		return Denied(ReasonUnavailable, "could not check which deployments reference target %q before its finalizer %s is removed: %v; try again", name, resource.FinalizerInUse, err).WithTarget(name)
	}
	if len(referrers) == 0 {
		return Allowed().WithTarget(name)
	}
	named, more := referrers, ""
	if len(named) > maxNamedReferrers {
		more = fmt.Sprintf(" and %d more", len(named)-maxNamedReferrers)
		named = named[:maxNamedReferrers]
	}
	return Denied(ReasonReferenced, "the finalizer %s of target %q cannot be removed while %d deployment(s) reference it: %s%s; delete those deployments or point them at another target, and flinkgate removes it itself", resource.FinalizerInUse, name, len(referrers), strings.Join(named, ", "), more).WithTarget(name)
}

// NewReference reports whether a deployment write points the deployment at
// its target anew: a create, or an update that sets or changes
// spec.deploymentTargetName (flinkgate labels every admitted deployment with
// its target, so a missing label counts as a change).
func NewReference(r Request, dep *resource.Deployment) bool {
	old := storedDeployment(r)
	return old == nil || old.Labels[resource.LabelDeploymentTarget] != dep.TargetName
}

// storedDeployment is the old object of an UPDATE when flinkgate admitted it
// as a deployment, else nil: a ConfigMap that gains the Deployment kind label
// was never seen by the webhooks, so whatever labels and annotations it
// carries were written by anyone and count for nothing.
func storedDeployment(r Request) *corev1.ConfigMap {
	if r.Operation != Update || r.Old == nil || r.Old.Labels[resource.LabelKind] != resource.KindDeployment {
		return nil
	}
	return r.Old
}

// terminatingTarget denies a new reference to a target that is being deleted;
// deployments that already reference it may still change and go, so users
// can drain it.
func terminatingTarget(r Request, dep *resource.Deployment, t *resource.Target) (Decision, bool) {
	if !t.Terminating || !NewReference(r, dep) {
		return Decision{}, false
	}
	return Denied(ReasonTargetTerminating, "target %q is being deleted; point the deployment at another target", t.Name).WithTarget(t.Name), true
}

// FinalizerRemovalSettling holds a removal of FinalizerInUse by anyone but
// flinkgate until the target has been terminating for settle: a deployment
// admitted just before the delete may not be stored yet, so a live list
// can miss it. The controller waits the same time before it releases the
// finalizer; a user must not be able to skip that wait. On a target that
// is not being deleted, removing the finalizer would only reopen that race
// for the delete that follows. Held is false when the removal may go on to
// the live referrer check (FinalizerRemovalValidate).
func FinalizerRemovalSettling(r Request, now time.Time, settle time.Duration) (d Decision, held bool) {
	name := r.Old.Name
	if r.ByFlinkgate {
		return Decision{}, false
	}
	deleted := r.Old.DeletionTimestamp
	if deleted == nil {
		return Denied(ReasonReferenced, "the finalizer %s of target %q cannot be removed while the target is not being deleted; delete the target, and flinkgate removes the finalizer once no deployment references it", resource.FinalizerInUse, name).WithTarget(name), true
	}
	// A clock behind the API server's counts as no time terminating.
	terminating := max(now.Sub(deleted.Time), 0)
	if terminating >= settle {
		return Decision{}, false
	}
	wait := int64((settle - terminating + time.Second - 1) / time.Second)
	return Denied(ReasonReferenced, "the finalizer %s of target %q cannot be removed yet: the target has been terminating for %s, and a deployment admitted just before its deletion may not be stored until it has been terminating for %s; try again in %d seconds, or let flinkgate remove it", resource.FinalizerInUse, name, terminating.Truncate(time.Second), settle, wait).WithTarget(name), true
}
