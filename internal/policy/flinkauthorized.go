package policy

import (
	"maps"

	"flinkgate.io/flinkgate/internal/resource"
)

// MarkFlinkAuthorized records on an allowed target create's object whether
// its creator passed the check on creating FlinkDeployments in its
// namespace (checked: --flink-operator=on with authorization on): the
// reconciler turns Deployments into FlinkDeployments only on targets that
// carry the mark, so targets created before the operator was on (or with
// the annotation forged) do not. Otherwise any value the user set is
// dropped.
func MarkFlinkAuthorized(d Decision, checked bool) Decision {
	if !d.Allowed || d.Object == nil {
		return d
	}
	_, has := d.Object.Annotations[resource.AnnotationFlinkAuthorized]
	switch {
	case checked:
		d.Object.Annotations = withEntry(d.Object.Annotations, resource.AnnotationFlinkAuthorized, "true")
	case has:
		d.Object.Annotations = maps.Clone(d.Object.Annotations)
		delete(d.Object.Annotations, resource.AnnotationFlinkAuthorized)
	}
	return d
}

// flinkAuthorizedChanged denies a target update that adds, changes or
// removes AnnotationFlinkAuthorized: only the mutating stage of the
// target's creation sets it.
func flinkAuthorizedChanged(r Request) (Decision, bool) {
	if !resource.AnnotationChanged(r.Old.Annotations, r.New.Annotations, resource.AnnotationFlinkAuthorized) {
		return Decision{}, false
	}
	return Denied(ReasonImmutable, "the annotation %s of target %q cannot be added, changed or removed: flinkgate records with it, at creation, that the target's creator may create FlinkDeployments in its namespace; to get it, delete the target and create it again", resource.AnnotationFlinkAuthorized, r.Old.Name).WithTarget(r.Old.Name), true
}

// CheckFlinkAuthorized is the validating stage's side of
// MarkFlinkAuthorized: an allowed target create may carry the annotation
// only as "true" and only when the check ran (the mutating stage would
// have set or dropped it; this catches a create that bypassed it).
func CheckFlinkAuthorized(d Decision, r Request, checked bool) Decision {
	if !d.Allowed || r.New == nil {
		return d
	}
	v, has := r.New.Annotations[resource.AnnotationFlinkAuthorized]
	if has && (!checked || v != "true") {
		return Denied(ReasonInvalid, "the annotation %s of target %q is set only by flinkgate's mutating webhook, when the target's creator may create FlinkDeployments in its namespace (--flink-operator=on); remove it", resource.AnnotationFlinkAuthorized, r.New.Name).WithTarget(r.New.Name)
	}
	return d
}
