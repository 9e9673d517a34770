package webhook

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/patchset"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/resource"
)

// Stage is which webhook asks: the mutating one may change the object, the
// validating one sees the final object and is the authority.
type Stage string

const (
	StageMutate   Stage = "mutate"
	StageValidate Stage = "validate"
)

// Reason is why a request was denied. Its values are a small fixed set,
// because they are a metric label.
type Reason string

const (
	ReasonNone           Reason = ""
	ReasonInvalid        Reason = "invalid"
	ReasonImmutable      Reason = "immutable"
	ReasonReferenced     Reason = "referenced"
	ReasonTargetNotFound Reason = "target_not_found"
	ReasonPatchFailed    Reason = "patch_failed"
	ReasonRBAC           Reason = "rbac_preflight"
	ReasonUnavailable    Reason = "unavailable"
	ReasonInternal       Reason = "internal"
)

// Decision is a policy's answer.
type Decision struct {
	Allowed  bool
	Reason   Reason
	Message  string
	Warnings []string
	// Object is the ConfigMap to store, when the mutating webhook changes it.
	Object *corev1.ConfigMap
	// Target names the DeploymentTarget involved, for logs and audit.
	Target string
}

func allowed(warnings ...string) Decision { return Decision{Allowed: true, Warnings: warnings} }

func denied(reason Reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// maxNamedReferrers bounds how many deployments a delete denial names.
const maxNamedReferrers = 10

// TargetCreate admits a new DeploymentTarget. The mutating stage makes it
// immutable and records its namespace; the validating stage insists on both
// and, unless preflight is nil (off), on the platform's access to the namespace.
func TargetCreate(stage Stage, cm *corev1.ConfigMap, platformNS string, preflight *rbac.Result, mode rbac.Mode) Decision {
	t, err := resource.ParseTarget(cm)
	if err != nil {
		return invalidTarget(err)
	}
	ns := t.ResolvedNamespace(platformNS)
	d := allowed(targetWarnings(t, platformNS)...)
	d.Target = t.Name
	switch stage {
	case StageMutate:
		out := cm.DeepCopy()
		immutable := true
		out.Immutable = &immutable
		out.Annotations = withEntry(out.Annotations, resource.AnnotationNamespace, ns)
		d.Object = out
	case StageValidate:
		if cm.Immutable == nil || !*cm.Immutable {
			return denied(ReasonInvalid, "target %q must be created with immutable: true; flinkgate's mutating webhook sets it, so check that it is registered", t.Name)
		}
		if got := cm.Annotations[resource.AnnotationNamespace]; got != ns {
			return denied(ReasonInvalid, "target %q has annotation %s=%q but its namespace is %q; leave the annotation to flinkgate", t.Name, resource.AnnotationNamespace, got, ns)
		}
		if preflight != nil {
			if problem := preflight.Problem(); problem != "" {
				if mode == rbac.ModeEnforce {
					reason := ReasonRBAC
					if preflight.Outcome == rbac.OutcomeUnavailable {
						reason = ReasonUnavailable
					}
					dd := denied(reason, "target %q cannot be served: %s", t.Name, problem)
					dd.Target = t.Name
					return dd
				}
				d.Warnings = append(d.Warnings, problem)
			}
		}
	}
	return d
}

func invalidTarget(err error) Decision {
	return denied(ReasonInvalid, "invalid DeploymentTarget: %v", err)
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

// TargetUpdate allows metadata changes only. At the mutating stage it also
// keeps the stored document bytes when only their formatting changed, so the
// immutable ConfigMap accepts the update.
func TargetUpdate(stage Stage, old, cm *corev1.ConfigMap, platformNS string) Decision {
	const remedy = "targets are immutable: to change one, create a new target, point the deployments at it, then delete this one"
	if cm.Labels[resource.LabelKind] != resource.KindTarget {
		return denied(ReasonImmutable, "the %s label of target %q cannot be removed or changed; %s", resource.LabelKind, old.Name, remedy)
	}
	for k := range cm.Data {
		if _, ok := old.Data[k]; !ok {
			return denied(ReasonImmutable, "data key %q cannot be added to target %q; %s", k, old.Name, remedy)
		}
	}
	for k := range cm.BinaryData {
		if _, ok := old.BinaryData[k]; !ok {
			return denied(ReasonImmutable, "binaryData key %q cannot be added to target %q; %s", k, old.Name, remedy)
		}
	}
	if !sameSpec(old, cm) {
		return denied(ReasonImmutable, "the spec of target %q cannot change; %s", old.Name, remedy)
	}
	d := allowed()
	d.Target = old.Name
	if stage == StageMutate {
		out := cm.DeepCopy()
		out.Data = maps.Clone(old.Data)
		out.BinaryData = maps.Clone(old.BinaryData)
		if old.Immutable != nil && *old.Immutable {
			out.Immutable = old.Immutable
		}
		if t, err := resource.ParseTarget(old); err == nil {
			out.Annotations = withEntry(out.Annotations, resource.AnnotationNamespace, t.ResolvedNamespace(platformNS))
		}
		d.Object = out
	}
	return d
}

// sameSpec compares two targets' specs as data; documents that do not parse
// compare as bytes.
func sameSpec(old, cm *corev1.ConfigMap) bool {
	if old.Data[resource.DataKey] == cm.Data[resource.DataKey] {
		return true
	}
	a, errA := resource.DecodeDocument(old, resource.KindTarget)
	b, errB := resource.DecodeDocument(cm, resource.KindTarget)
	if errA != nil || errB != nil {
		return false
	}
	return patchset.Equal(a.Tree["spec"], b.Tree["spec"])
}

// TargetDelete refuses to delete a target that deployments reference.
func TargetDelete(name string, referrers []string) Decision {
	if len(referrers) == 0 {
		d := allowed()
		d.Target = name
		return d
	}
	named := referrers
	more := ""
	if len(named) > maxNamedReferrers {
		more = fmt.Sprintf(" and %d more", len(named)-maxNamedReferrers)
		named = named[:maxNamedReferrers]
	}
	d := denied(ReasonReferenced, "target %q is referenced by %d deployment(s): %s%s; delete those deployments or point them at another target first", name, len(referrers), strings.Join(named, ", "), more)
	d.Target = name
	return d
}

// DeploymentWrite admits a created or updated Deployment. The mutating stage
// applies the target's patch set and records the target; the validating
// stage checks the final object.
func DeploymentWrite(stage Stage, cm *corev1.ConfigMap, dep *resource.Deployment, lookup resource.TargetLookup, platformNS string) Decision {
	name := dep.TargetName
	switch {
	case lookup.Err != nil:
		var inv *resource.InvalidError
		if errors.As(lookup.Err, &inv) {
			return withTarget(denied(ReasonInvalid, "deployment %q references target %q, which is invalid (%v); recreate the target", cm.Name, name, lookup.Err), name)
		}
		return withTarget(denied(ReasonUnavailable, "could not look up target %q for deployment %q: %v; try again", name, cm.Name, lookup.Err), name)
	case lookup.Target == nil:
		return withTarget(denied(ReasonTargetNotFound, "deployment %q references target %q, which does not exist in namespace %s; create the DeploymentTarget first or fix spec.deploymentTargetName", cm.Name, name, cm.Namespace), name)
	}
	ns := lookup.Target.ResolvedNamespace(platformNS)
	if stage == StageValidate {
		if got := cm.Labels[resource.LabelDeploymentTarget]; got != name {
			return withTarget(denied(ReasonInvalid, "deployment %q has label %s=%q but references target %q; leave the label to flinkgate (is its mutating webhook registered?)", cm.Name, resource.LabelDeploymentTarget, got, name), name)
		}
		if got := cm.Annotations[resource.AnnotationTargetNamespace]; got != ns {
			return withTarget(denied(ReasonInvalid, "deployment %q has annotation %s=%q but target %q runs in %q; leave the annotation to flinkgate", cm.Name, resource.AnnotationTargetNamespace, got, name, ns), name)
		}
		return withTarget(allowed(), name)
	}
	data, changed, err := dep.Patched(lookup.Target)
	if err != nil {
		var perr *patchset.Error
		if errors.As(err, &perr) {
			return withTarget(denied(ReasonPatchFailed, "target %q's deploymentPatchSet[%d] (op %s, path %s) cannot be applied to deployment %q: %s; fix the deployment or the target's patch set", name, perr.Index, perr.Op, perr.Path, cm.Name, perr.Reason), name)
		}
		return withTarget(denied(ReasonPatchFailed, "target %q's deploymentPatchSet cannot be applied to deployment %q: %v", name, cm.Name, err), name)
	}
	out := cm.DeepCopy()
	if changed {
		out.Data = maps.Clone(out.Data)
		out.Data[resource.DataKey] = data
	}
	out.Labels = withEntry(out.Labels, resource.LabelDeploymentTarget, name)
	out.Annotations = withEntry(out.Annotations, resource.AnnotationTargetNamespace, ns)
	d := allowed()
	d.Object = out
	return withTarget(d, name)
}

func withTarget(d Decision, name string) Decision {
	d.Target = name
	return d
}

// withEntry returns m with k=v, copying m so the caller's map is untouched.
func withEntry(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[k] = v
	return out
}
