package policy

import (
	"bytes"
	"context"
	"errors"
	"maps"

	"flinkgate.io/flinkgate/internal/patchset"
	"flinkgate.io/flinkgate/internal/resource"
)

// InvalidDeployment denies a deployment whose document does not parse, or
// is beyond the bounds (too_large).
func InvalidDeployment(r Request, err error) Decision {
	switch documentReason(err, ReasonInvalid) {
	case ReasonTooLarge:
		return Denied(ReasonTooLarge, "deployment %q is too large: %v; see flinkgate's bounds in %s", r.New.Name, err, BoundsDoc)
	case ReasonUnavailable:
		return Denied(ReasonUnavailable, "deployment %q was not checked: %s", r.New.Name, timedOut)
	}
	return Denied(ReasonInvalid, "invalid Deployment %q: %v", r.New.Name, err)
}

// targetProblem denies a deployment whose target is missing, invalid, could
// not be looked up, or is being deleted while the deployment newly points at
// it; it returns false when the target is usable.
func targetProblem(r Request, dep *resource.Deployment, found resource.TargetLookup) (Decision, bool) {
	name, cm := dep.TargetName, r.New
	switch {
	case found.Err != nil:
		var inv *resource.InvalidError
		var tl *resource.TooLargeError
		if errors.As(found.Err, &inv) || errors.As(found.Err, &tl) {
			return Denied(ReasonInvalid, "deployment %q references target %q, which is invalid (%v); recreate the target", cm.Name, name, found.Err).WithTarget(name), true
		}
		return Denied(ReasonUnavailable, "could not look up target %q for deployment %q: %v; try again", name, cm.Name, found.Err).WithTarget(name), true
	case found.Target == nil:
		return Denied(ReasonTargetNotFound, "deployment %q references target %q, which does not exist in namespace %s; create the DeploymentTarget first or fix spec.deploymentTargetName", cm.Name, name, cm.Namespace).WithTarget(name), true
	}
	return terminatingTarget(r, dep, found.Target)
}

// DeploymentWriteMutate applies the target's patch set to a created or
// updated deployment and records the target on it. Applying stops when ctx
// ends.
func DeploymentWriteMutate(ctx context.Context, r Request, dep *resource.Deployment, found resource.TargetLookup) Decision {
	if d, bad := targetProblem(r, dep, found); bad {
		return d
	}
	if d, moved := movedWhileRunning(ctx, r, dep, found.Target); moved {
		return d
	}
	name, cm, t := dep.TargetName, r.New, found.Target
	data, changed := cm.Data[resource.DataKey], false
	if !unchangedSinceAdmitted(r, t) {
		var err error
		if data, changed, err = dep.Patched(ctx, t); err != nil {
			return patchDenied(r, name, err)
		}
	}
	// A shallow copy is enough: the maps changed below are replaced by
	// copies (withEntry, maps.Clone), so the request's object is never
	// written through out, and nothing writes to out afterwards.
	out := new(*cm)
	if changed {
		out.Data = maps.Clone(cm.Data)
		out.Data[resource.DataKey] = data
	}
	out.Labels = withEntry(out.Labels, resource.LabelDeploymentTarget, name)
	out.Annotations = withEntry(out.Annotations, resource.AnnotationTargetNamespace, t.ResolvedNamespace(r.PlatformNamespace))
	out.Annotations = keepFlinkStatus(r, out.Annotations)
	if t.UID != "" {
		out.Annotations[resource.AnnotationTargetUID] = t.UID
		out.Annotations[resource.AnnotationTargetResourceVersion] = t.ResourceVersion
		out.Annotations[resource.AnnotationDigest] = resource.Digest(t, data)
	}
	d := Allowed().WithTarget(name)
	d.Object = out
	return d
}

// patchDenied denies a deployment whose target's patch set cannot be
// applied, or makes it too large, or ran out of time.
func patchDenied(r Request, name string, err error) Decision {
	cm := r.New
	switch documentReason(err, ReasonPatchFailed) {
	case ReasonTooLarge:
		return Denied(ReasonTooLarge, "target %q's deploymentPatchSet makes deployment %q too large: %v; a ConfigMap holds at most 1 MiB (see flinkgate's bounds in %s)", name, cm.Name, err, BoundsDoc).WithTarget(name)
	case ReasonUnavailable:
		return Denied(ReasonUnavailable, "target %q's deploymentPatchSet was not applied to deployment %q: %s", name, cm.Name, timedOut).WithTarget(name)
	}
	var perr *patchset.Error
	if errors.As(err, &perr) {
		return Denied(ReasonPatchFailed, "target %q's deploymentPatchSet[%d] (op %s, path %s) cannot be applied to deployment %q: %s; fix the deployment or the target's patch set", name, perr.Index, perr.Op, perr.Path, cm.Name, perr.Reason).WithTarget(name)
	}
	return Denied(ReasonPatchFailed, "target %q's deploymentPatchSet cannot be applied to deployment %q: %v", name, cm.Name, err).WithTarget(name)
}

// DocumentChanged reports whether a request writes another document than
// the stored one (data or binaryData): a CREATE, a DELETE, or an UPDATE
// that changes either. The authorization asks use on the target for it,
// and only an unchanged document may skip the patch set.
func DocumentChanged(r Request) bool {
	return r.Old == nil || r.New == nil || !maps.Equal(r.Old.Data, r.New.Data) ||
		!maps.EqualFunc(r.Old.BinaryData, r.New.BinaryData, bytes.Equal)
}

// unchangedSinceAdmitted reports whether an UPDATE leaves a deployment's
// data as flinkgate stored it for this very target: then the stored
// document already is the patched one, and applying the patch set again
// would only repeat it (and fail for a remove). The target's UID is the
// test, not its resourceVersion: a target's data is immutable, so only a
// target deleted and created anew (a new UID) can carry another patch set,
// while its metadata (the protection finalizer, labels) changes its
// resourceVersion without changing what it does to deployments.
func unchangedSinceAdmitted(r Request, t *resource.Target) bool {
	old := storedDeployment(r)
	if old == nil || t.UID == "" || DocumentChanged(r) || len(r.New.BinaryData) > 0 {
		return false
	}
	a := old.Annotations
	return a[resource.AnnotationTargetUID] == t.UID && a[resource.AnnotationDigest] == resource.Digest(t, old.Data[resource.DataKey])
}

// DeploymentWriteValidate checks the final deployment: its target exists,
// the label and annotation flinkgate keeps on it match the document, and,
// with the Flink operator on, a changed document can become a
// FlinkDeployment.
func DeploymentWriteValidate(r Request, dep *resource.Deployment, found resource.TargetLookup) Decision {
	if d, forged := flinkStatusForged(r); forged {
		return d.WithTarget(dep.TargetName)
	}
	if d, bad := targetProblem(r, dep, found); bad {
		return d
	}
	// Validation has no context of its own; the stored document it
	// decodes was decoded within bounds when it was admitted.
	if d, moved := movedWhileRunning(context.Background(), r, dep, found.Target); moved {
		return d
	}
	name, cm := dep.TargetName, r.New
	if got := cm.Labels[resource.LabelDeploymentTarget]; got != name {
		return Denied(ReasonInvalid, "deployment %q has label %s=%q but references target %q; leave the label to flinkgate (is its mutating webhook registered?)", cm.Name, resource.LabelDeploymentTarget, got, name).WithTarget(name)
	}
	if got, ns := cm.Annotations[resource.AnnotationTargetNamespace], found.Target.ResolvedNamespace(r.PlatformNamespace); got != ns {
		return Denied(ReasonInvalid, "deployment %q has annotation %s=%q but target %q runs in %q; leave the annotation to flinkgate", cm.Name, resource.AnnotationTargetNamespace, got, name, ns).WithTarget(name)
	}
	if t := found.Target; t.UID != "" && cm.Annotations[resource.AnnotationDigest] != resource.Digest(t, cm.Data[resource.DataKey]) {
		return Denied(ReasonInvalid, "deployment %q's data[%q] is not the document flinkgate patched for target %q: it was rewritten after flinkgate's mutating webhook ran (by another mutating webhook?), or that webhook did not run; leave data[%q] and the annotation %s to flinkgate", cm.Name, resource.DataKey, name, resource.DataKey, resource.AnnotationDigest).WithTarget(name)
	}
	if d, bad := untranslatable(r, dep, found.Target); bad {
		return d
	}
	return Allowed().WithTarget(name)
}
