package policy

import (
	"maps"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// Rule names the policy a request is decided by.
type Rule int

const (
	// RuleDone: the request is decided by Route alone (Route's Decision).
	RuleDone Rule = iota
	RuleTargetCreate
	RuleTargetUpdate
	RuleTargetDelete
	RuleDeploymentWrite
)

// Route is where a request goes: the kind it concerns (the metric and log
// label) and the rule that decides it, or the decision itself.
type Route struct {
	Kind     string
	Rule     Rule
	Decision Decision // with RuleDone
}

func done(kind string, d Decision) Route { return Route{Kind: kind, Rule: RuleDone, Decision: d} }

// Classify routes a request by its kind labels and operation, and decides the
// requests that need no rule of their own: objects flinkgate does not own,
// changes of a kind label, deployments that are going away.
func Classify(r Request) Route {
	switch r.Operation {
	case Delete:
		kind := labelKind(r.Old)
		switch {
		case kind != resource.KindTarget:
			// Deployments (and anything else) may always be deleted.
			return done(kind, Allowed().WithTarget(label(r.Old, resource.LabelDeploymentTarget)))
		case r.Stage == StageMutate:
			// The validating webhook checks references once, on the final request.
			return done(kind, Allowed().WithTarget(r.Old.Name))
		}
		return Route{Kind: kind, Rule: RuleTargetDelete}
	case Create, Update:
		if r.New == nil {
			return done("", Denied(ReasonInvalid, "the request carries no object"))
		}
	default:
		return done(labelKind(r.New), Allowed())
	}
	kind := labelKind(r.New)
	if r.Operation == Update && r.Old != nil {
		switch oldKind := labelKind(r.Old); {
		case oldKind == resource.KindTarget:
			return Route{Kind: resource.KindTarget, Rule: RuleTargetUpdate}
		case oldKind == resource.KindDeployment && kind != resource.KindDeployment:
			return done(resource.KindDeployment, Denied(ReasonImmutable, "the %s label of deployment %q cannot change; delete it and create the object anew", resource.LabelKind, r.New.Name))
		}
	}
	switch kind {
	case resource.KindTarget:
		// An UPDATE that adds the label to a plain ConfigMap creates a target.
		return Route{Kind: kind, Rule: RuleTargetCreate}
	case resource.KindDeployment:
		if r.Operation == Update && r.Old != nil && r.New.DeletionTimestamp != nil && maps.Equal(r.Old.Data, r.New.Data) &&
			len(r.New.BinaryData) == 0 && maps.Equal(r.Old.Labels, r.New.Labels) && !flinkRecordChanged(r) {
			// A deployment being deleted only loses finalizers; patching it
			// again could fail (its target may be gone) and block deletion.
			// Its data and labels must stay as admitted: the delete check of
			// its target finds it by its target label; and so must what the
			// reconciler reads and reports (flinkRecordChanged).
			return done(kind, Allowed())
		}
		return Route{Kind: kind, Rule: RuleDeploymentWrite}
	case "":
		if _, labelled := r.New.Labels[resource.LabelKind]; labelled {
			return done(kind, Denied(ReasonInvalid, "label %s is empty; set it to %s or %s, or remove it from ConfigMaps flinkgate should ignore", resource.LabelKind, resource.KindTarget, resource.KindDeployment))
		}
		// Only an UPDATE gets here: the old object carried a kind label that
		// is not flinkgate's, and removing it is the fix we ask for.
		return done(kind, Allowed())
	default:
		return done(kind, Denied(ReasonInvalid, "label %s=%q is not a flinkgate kind; it must be %s or %s (remove the label from ConfigMaps flinkgate should ignore)", resource.LabelKind, kind, resource.KindTarget, resource.KindDeployment))
	}
}

func labelKind(cm *corev1.ConfigMap) string {
	return label(cm, resource.LabelKind)
}

func label(cm *corev1.ConfigMap, key string) string {
	if cm == nil {
		return ""
	}
	return cm.Labels[key]
}
