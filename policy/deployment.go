package policy

import (
	"errors"
	"maps"

	"flinkgate.io/flinkgate/patchset"
	"flinkgate.io/flinkgate/resource"
)

// InvalidDeployment denies a deployment whose document does not parse.
func InvalidDeployment(r Request, err error) Decision {
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
		if errors.As(found.Err, &inv) {
			return Denied(ReasonInvalid, "deployment %q references target %q, which is invalid (%v); recreate the target", cm.Name, name, found.Err).WithTarget(name), true
		}
		return Denied(ReasonUnavailable, "could not look up target %q for deployment %q: %v; try again", name, cm.Name, found.Err).WithTarget(name), true
	case found.Target == nil:
		return Denied(ReasonTargetNotFound, "deployment %q references target %q, which does not exist in namespace %s; create the DeploymentTarget first or fix spec.deploymentTargetName", cm.Name, name, cm.Namespace).WithTarget(name), true
	}
	return terminatingTarget(r, dep, found.Target)
}

// DeploymentWriteMutate applies the target's patch set to a created or
// updated deployment and records the target on it.
func DeploymentWriteMutate(r Request, dep *resource.Deployment, found resource.TargetLookup) Decision {
	if d, bad := targetProblem(r, dep, found); bad {
		return d
	}
	name, cm := dep.TargetName, r.New
	data, changed, err := dep.Patched(found.Target)
	if err != nil {
		var perr *patchset.Error
		if errors.As(err, &perr) {
			return Denied(ReasonPatchFailed, "target %q's deploymentPatchSet[%d] (op %s, path %s) cannot be applied to deployment %q: %s; fix the deployment or the target's patch set", name, perr.Index, perr.Op, perr.Path, cm.Name, perr.Reason).WithTarget(name)
		}
		return Denied(ReasonPatchFailed, "target %q's deploymentPatchSet cannot be applied to deployment %q: %v", name, cm.Name, err).WithTarget(name)
	}
	out := cm.DeepCopy()
	if changed {
		out.Data = maps.Clone(out.Data)
		out.Data[resource.DataKey] = data
	}
	out.Labels = withEntry(out.Labels, resource.LabelDeploymentTarget, name)
	out.Annotations = withEntry(out.Annotations, resource.AnnotationTargetNamespace, found.Target.ResolvedNamespace(r.PlatformNamespace))
	d := Allowed().WithTarget(name)
	d.Object = out
	return d
}

// DeploymentWriteValidate checks the final deployment: its target exists and
// the label and annotation flinkgate keeps on it match the document.
func DeploymentWriteValidate(r Request, dep *resource.Deployment, found resource.TargetLookup) Decision {
	if d, bad := targetProblem(r, dep, found); bad {
		return d
	}
	name, cm := dep.TargetName, r.New
	if got := cm.Labels[resource.LabelDeploymentTarget]; got != name {
		return Denied(ReasonInvalid, "deployment %q has label %s=%q but references target %q; leave the label to flinkgate (is its mutating webhook registered?)", cm.Name, resource.LabelDeploymentTarget, got, name).WithTarget(name)
	}
	if got, ns := cm.Annotations[resource.AnnotationTargetNamespace], found.Target.ResolvedNamespace(r.PlatformNamespace); got != ns {
		return Denied(ReasonInvalid, "deployment %q has annotation %s=%q but target %q runs in %q; leave the annotation to flinkgate", cm.Name, resource.AnnotationTargetNamespace, got, name, ns).WithTarget(name)
	}
	return Allowed().WithTarget(name)
}
