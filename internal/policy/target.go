package policy

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// maxNamedReferrers bounds how many deployments a delete denial names.
const maxNamedReferrers = 10

const immutableRemedy = "targets are immutable: to change one, create a new target, point the deployments at it, then delete this one"

// InvalidTarget denies a target whose document does not parse, or is
// beyond the bounds (too_large).
func InvalidTarget(err error) Decision {
	switch documentReason(err, ReasonInvalid) {
	case ReasonTooLarge:
		return Denied(ReasonTooLarge, "DeploymentTarget too large: %v; see flinkgate's bounds in %s", err, BoundsDoc)
	case ReasonUnavailable:
		return Denied(ReasonUnavailable, "the DeploymentTarget was not checked: %s", timedOut)
	}
	return Denied(ReasonInvalid, "invalid DeploymentTarget: %v", err)
}

// TargetCreateMutate makes a new target immutable, records the namespace
// its Flink clusters run in and adds the in-use protection finalizer.
func TargetCreateMutate(r Request, t *resource.Target) Decision {
	if d, denied := platformNamespaceTarget(r, t); denied {
		return d
	}
	d := Allowed(targetWarnings(t, r.PlatformNamespace)...).WithTarget(t.Name)
	out := r.New.DeepCopy()
	immutable := true
	out.Immutable = &immutable
	out.Annotations = withEntry(out.Annotations, resource.AnnotationNamespace, t.ResolvedNamespace(r.PlatformNamespace))
	out.Finalizers = withFinalizer(out)
	d.Object = out
	return d
}

// Access is what the RBAC preflight found about the platform's access to a
// target's namespace.
type Access struct {
	// Problem says what is missing and how to grant it; empty when the
	// platform may manage Flink clusters there, or the check is off.
	Problem string
	// Unavailable is set when the check could not be made.
	Unavailable bool
	// Enforce makes a problem deny the target; otherwise it is a warning.
	Enforce bool
}

// TargetCreateValidate insists on what the mutating stage set and on the
// platform's access to the target's namespace.
func TargetCreateValidate(r Request, t *resource.Target, access Access) Decision {
	ns := t.ResolvedNamespace(r.PlatformNamespace)
	d := Allowed(targetWarnings(t, r.PlatformNamespace)...).WithTarget(t.Name)
	if r.New.Immutable == nil || !*r.New.Immutable {
		return Denied(ReasonInvalid, "target %q must be created with immutable: true; flinkgate's mutating webhook sets it, so check that it is registered", t.Name)
	}
	if got := r.New.Annotations[resource.AnnotationNamespace]; got != ns {
		return Denied(ReasonInvalid, "target %q has annotation %s=%q but its namespace is %q; leave the annotation to flinkgate", t.Name, resource.AnnotationNamespace, got, ns)
	}
	if d, denied := platformNamespaceTarget(r, t); denied {
		return d
	}
	if access.Problem != "" {
		if !access.Enforce {
			d.Warnings = append(d.Warnings, access.Problem)
			return d
		}
		reason := ReasonRBAC
		if access.Unavailable {
			reason = ReasonUnavailable
		}
		return Denied(reason, "target %q cannot be served: %s", t.Name, access.Problem).WithTarget(t.Name)
	}
	return d
}

func targetWarnings(t *resource.Target, platformNS string) []string {
	var w []string
	switch {
	case t.Namespace == "":
		w = append(w, fmt.Sprintf("target %q sets no spec.kubernetes.namespace, so its Flink clusters run in the platform namespace %q; running Flink jobs in a separate namespace is recommended", t.Name, platformNS))
	case t.Namespace == platformNS:
		w = append(w, fmt.Sprintf("target %q runs Flink clusters in the platform namespace %q; running Flink jobs in a separate namespace is recommended", t.Name, platformNS))
	}
	for i := range t.PatchSet {
		if t.PatchSet[i].Appends() {
			w = append(w, fmt.Sprintf("spec.deploymentPatchSet[%d] (%s %s) appends to an array: it is applied again on every modification of a deployment, adding another element each time", i, t.PatchSet[i].Op, t.PatchSet[i].Path))
		}
	}
	return w
}

// TargetUpdateValidate allows metadata changes only.
func TargetUpdateValidate(r Request) Decision {
	old, cm := r.Old, r.New
	if cm.Labels[resource.LabelKind] != resource.KindTarget {
		return Denied(ReasonImmutable, "the %s label of target %q cannot be removed or changed; %s", resource.LabelKind, old.Name, immutableRemedy)
	}
	for k := range cm.Data {
		if _, ok := old.Data[k]; !ok {
			return Denied(ReasonImmutable, "data key %q cannot be added to target %q; %s", k, old.Name, immutableRemedy)
		}
	}
	for k := range cm.BinaryData {
		if _, ok := old.BinaryData[k]; !ok {
			return Denied(ReasonImmutable, "binaryData key %q cannot be added to target %q; %s", k, old.Name, immutableRemedy)
		}
	}
	if !sameSpec(old, cm) {
		return Denied(ReasonImmutable, "the spec of target %q cannot change; %s", old.Name, immutableRemedy)
	}
	if d, denied := flinkAuthorizedChanged(r); denied {
		return d
	}
	return Allowed().WithTarget(old.Name)
}

// TargetUpdateMutate applies the validating rules early, keeps the stored
// document bytes when only their formatting changed, so the immutable
// ConfigMap accepts the update, and keeps the in-use protection finalizer on
// a live target.
func TargetUpdateMutate(r Request) Decision {
	// A whole-object write (kubectl replace, edit) that leaves out the
	// creation's authorization mark keeps it, as it keeps the namespace
	// annotation below; only an explicit change is denied.
	if v, ok := r.Old.Annotations[resource.AnnotationFlinkAuthorized]; ok {
		if _, has := r.New.Annotations[resource.AnnotationFlinkAuthorized]; !has {
			kept := *r.New // withEntry copies the map; the request's object stays as sent
			kept.Annotations = withEntry(r.New.Annotations, resource.AnnotationFlinkAuthorized, v)
			r.New = &kept
		}
	}
	d := TargetUpdateValidate(r)
	if !d.Allowed {
		return d
	}
	old := r.Old
	out := r.New.DeepCopy()
	out.Data = maps.Clone(old.Data)
	out.BinaryData = maps.Clone(old.BinaryData)
	if old.Immutable != nil && *old.Immutable {
		out.Immutable = old.Immutable
	}
	// The annotation records the namespace decided at creation; a target
	// without one resolves to the platform namespace, which may have changed
	// since, so the stored value stands. Only a target stored without it
	// (the webhook was bypassed) gets it now.
	if ns, ok := old.Annotations[resource.AnnotationNamespace]; ok {
		out.Annotations = withEntry(out.Annotations, resource.AnnotationNamespace, ns)
	} else if t, err := configmap.ParseTarget(context.Background(), old); err == nil {
		out.Annotations = withEntry(out.Annotations, resource.AnnotationNamespace, t.ResolvedNamespace(r.PlatformNamespace))
	}
	if out.DeletionTimestamp == nil && !r.ByFlinkgate {
		// Targets created before in-use protection, or while the webhook was
		// bypassed, get the finalizer on their next update (the API server
		// refuses new finalizers on an object being deleted). flinkgate's own
		// removal, from targets in a namespace being deleted, stands.
		out.Finalizers = withFinalizer(out)
	}
	d.Object = out
	return d
}

// sameSpec compares two targets' specs as data; documents that do not parse
// compare as bytes.
func sameSpec(old, cm *corev1.ConfigMap) bool {
	if old.Data[resource.DataKey] == cm.Data[resource.DataKey] {
		return true
	}
	a, errA := resource.DecodeDocument(context.Background(), configmap.Object(old), resource.KindTarget)
	b, errB := resource.DecodeDocument(context.Background(), configmap.Object(cm), resource.KindTarget)
	if errA != nil || errB != nil {
		return false
	}
	return jsonvalue.Equal(a.Tree["spec"], b.Tree["spec"])
}

// TargetDeleteValidate refuses to delete a target that deployments
// reference; referrers is what a look-up found, or err why it could not.
func TargetDeleteValidate(r Request, referrers []string, err error) Decision {
	name := r.Old.Name
	if err != nil {
		return Denied(ReasonUnavailable, "could not check which deployments reference target %q: %v; try again", name, err).WithTarget(name)
	}
	if len(referrers) == 0 {
		return Allowed().WithTarget(name)
	}
	named := referrers
	more := ""
	if len(named) > maxNamedReferrers {
		more = fmt.Sprintf(" and %d more", len(named)-maxNamedReferrers)
		named = named[:maxNamedReferrers]
	}
	return Denied(ReasonReferenced, "target %q is referenced by %d deployment(s): %s%s; delete those deployments or point them at another target first", name, len(referrers), strings.Join(named, ", "), more).WithTarget(name)
}
