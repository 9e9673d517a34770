package policy

import (
	"context"
	"errors"
	"fmt"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// FlinkOperator is flinkgate serve's --flink-operator with
// --flink-service-account. When On, flinkgate turns every deployment into
// a Flink Kubernetes Operator FlinkDeployment, so a deployment that has
// none is denied at admission rather than failing later, unseen.
type FlinkOperator struct {
	On bool
	// ServiceAccount is the Flink pods' ServiceAccount unless a document
	// names one.
	ServiceAccount string
	// AllowedServiceAccounts are the other ServiceAccounts a document may
	// name (--flink-allowed-service-accounts).
	AllowedServiceAccounts []string
}

// FlinkMappingDoc is where an untranslatable deployment's denial sends its
// reader: the user guide's mapping table. The heading's anchor is kept
// stable.
const FlinkMappingDoc = "docs/user-guide.md#running-deployments-with-the-flink-kubernetes-operator"

// platformNamespaceTarget denies, when the Flink operator is on, a target
// whose Flink clusters would run in the platform namespace: their pods
// could run as flinkgate's or the platform's ServiceAccount and act with
// its rights (review finding 1). With the operator off it stays a warning
// (targetWarnings).
func platformNamespaceTarget(r Request, t *resource.Target) (Decision, bool) {
	ns := t.ResolvedNamespace(r.PlatformNamespace)
	if !r.FlinkOperator.On || ns != r.PlatformNamespace {
		return Decision{}, false
	}
	return Denied(ReasonInvalid, "target %q would run Flink clusters in the platform namespace %q, which flinkgate does not allow with --flink-operator=on: pods there could run as flinkgate's or the platform's ServiceAccounts and act with their rights; set spec.kubernetes.namespace to a namespace of its own (listed in the chart's appmanager.rbac.additionalNamespaces)", t.Name, ns).WithTarget(t.Name), true
}

// untranslatable denies, when the Flink operator is on, a write of a new
// document that cannot become a FlinkDeployment. Only a write that changes
// the document is asked: one that leaves it as stored (labels,
// annotations, finalizers, as the reconciler writes) is not, so a
// deployment stored before the operator was turned on can still be
// managed and deleted. found is the deployment's target, already checked.
func untranslatable(r Request, dep *resource.Deployment, found *resource.Target) (Decision, bool) {
	if !r.FlinkOperator.On || !DocumentChanged(r) {
		return Decision{}, false
	}
	cm := r.New
	// A target stored before the operator was turned on may still point
	// at the platform namespace.
	if d, denied := platformNamespaceTarget(r, found); denied {
		d.Message = fmt.Sprintf("deployment %q cannot become a FlinkDeployment: %s", cm.Name, d.Message)
		return d.WithTarget(dep.TargetName), true
	}
	_, err := flinkop.Translate(flinkop.Input{
		Namespace: r.Namespace, Name: cm.Name, UID: string(cm.UID),
		Tree:                   dep.Doc.Tree,
		TargetNamespace:        found.ResolvedNamespace(r.PlatformNamespace),
		ServiceAccount:         r.FlinkOperator.ServiceAccount,
		AllowedServiceAccounts: r.FlinkOperator.AllowedServiceAccounts,
	})
	if err == nil {
		return Decision{}, false
	}
	var de *flinkop.DenialError
	if !errors.As(err, &de) {
		return Denied(ReasonInternal, "flinkgate failed to translate deployment %q into a FlinkDeployment: %v; try again, and report it if it persists", cm.Name, err).WithTarget(dep.TargetName), true
	}
	return Denied(ReasonInvalid, "deployment %q cannot become a FlinkDeployment, which flinkgate makes of every deployment for the Flink Kubernetes Operator (--flink-operator=on): %s: %s; see what maps in %s",
		cm.Name, de.Field, de.Reason, FlinkMappingDoc).WithTarget(dep.TargetName), true
}

// FlinkStatusAnnotations are where the reconciler (internal/flinkcluster)
// reports a deployment's FlinkDeployment state. Users read them, so only
// flinkgate may write them (review finding 9a): a forged FAILED or
// RUNNING would mislead whoever watches it.
var FlinkStatusAnnotations = []string{"flinkgate.io/state", "flinkgate.io/status"}

// flinkStatusForged denies, when the Flink operator is on, a deployment
// write by anyone but flinkgate that adds, changes or removes one of
// FlinkStatusAnnotations. (The mutating stage puts back what a whole-object
// write such as kubectl replace left out: keepFlinkStatus.)
func flinkStatusForged(r Request) (Decision, bool) {
	if !r.FlinkOperator.On || r.ByFlinkgate || r.New == nil {
		return Decision{}, false
	}
	var old map[string]string
	if r.Old != nil {
		old = r.Old.Annotations
	}
	for _, a := range FlinkStatusAnnotations {
		if resource.AnnotationChanged(old, r.New.Annotations, a) {
			return Denied(ReasonInvalid, "deployment %q: the annotation %s is flinkgate's report of its FlinkDeployment's state, and only flinkgate may add, change or remove it (--flink-operator=on); remove it from what you apply, or leave it as stored", r.New.Name, a), true
		}
	}
	return Decision{}, false
}

// flinkRecordChanged reports whether, with the Flink operator on, a
// user's update changes one of FlinkStatusAnnotations or the recorded
// target namespace, which the reconciler releases a deleted deployment's
// FlinkDeployment from: on a deployment being deleted too, those are
// flinkgate's alone, so such an update gets the full deployment rule.
func flinkRecordChanged(r Request) bool {
	if !r.FlinkOperator.On || r.ByFlinkgate || r.Old == nil || r.New == nil {
		return false
	}
	for _, a := range append([]string{resource.AnnotationTargetNamespace}, FlinkStatusAnnotations...) {
		if resource.AnnotationChanged(r.Old.Annotations, r.New.Annotations, a) {
			return true
		}
	}
	return false
}

// keepFlinkStatus returns annotations (a copy the caller owns) with the
// FlinkStatusAnnotations a user's update left out put back as stored, so
// a whole-object write (kubectl replace, an apply that does not know
// them) is not denied for them. A user's create loses them instead: a
// restored or imported deployment carries its old report, which the
// reconciler writes anew (review finding 9).
func keepFlinkStatus(r Request, annotations map[string]string) map[string]string {
	if !r.FlinkOperator.On || r.ByFlinkgate {
		return annotations
	}
	if r.Operation == Create {
		for _, a := range FlinkStatusAnnotations {
			delete(annotations, a)
		}
		return annotations
	}
	if r.Operation != Update || r.Old == nil {
		return annotations
	}
	for _, a := range FlinkStatusAnnotations {
		if v, ok := r.Old.Annotations[a]; ok {
			if _, has := annotations[a]; !has {
				annotations[a] = v
			}
		}
	}
	return annotations
}

// movedWhileRunning denies, when the Flink operator is on, an update that
// points a running deployment (spec.state RUNNING, or none) at a target in
// another namespace: the reconciler would start a new FlinkDeployment
// there from nothing and delete the old one without a savepoint (review
// finding 5). A target in the same namespace keeps the FlinkDeployment,
// which is updated where it is. The state is the stored document's:
// suspending in the same write has not taken the savepoint yet. ctx
// bounds decoding the stored document, which was decoded within the
// codec's bounds when it was admitted.
func movedWhileRunning(ctx context.Context, r Request, dep *resource.Deployment, t *resource.Target) (Decision, bool) {
	old := storedDeployment(r)
	if !r.FlinkOperator.On || old == nil || t == nil {
		return Decision{}, false
	}
	from := old.Labels[resource.LabelDeploymentTarget]
	if from == "" || from == dep.TargetName {
		return Decision{}, false
	}
	// A stored deployment without the namespace annotation was never
	// admitted by the mutating stage and so never translated; one with it
	// runs there.
	to := t.ResolvedNamespace(r.PlatformNamespace)
	if fromNS := old.Annotations[resource.AnnotationTargetNamespace]; fromNS != "" && fromNS == to {
		return Decision{}, false
	}
	stored, err := configmap.ParseDeployment(ctx, old)
	if err != nil {
		// A stored document that does not parse never became a
		// FlinkDeployment, so moving it loses nothing.
		return Decision{}, false
	}
	spec, _ := stored.Doc.Tree["spec"].(map[string]any)
	state, _ := spec["state"].(string)
	if state != "" && state != "RUNNING" {
		return Decision{}, false
	}
	return Denied(ReasonInvalid, "deployment %q runs on target %q and cannot move to target %q while its state is RUNNING (--flink-operator=on): its job's state would be lost, since the cluster is started anew in namespace %q; suspending it first does not keep the state either: the new FlinkDeployment has no initialSavepointPath and starts its job from no state; if that is acceptable, suspend or cancel it first (spec.state: SUSPENDED or CANCELLED), then move it", old.Name, from, dep.TargetName, to).WithTarget(dep.TargetName), true
}
