package check

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/webhook"
)

// The webhooks' names as the chart registers them; kubectl quotes them in a
// denial, so the check does too.
const (
	MutatingWebhook   = "mutate.flinkgate.io"
	ValidatingWebhook = "validate.flinkgate.io"
)

// Result is the verdict on one input.
type Result struct {
	Source string
	// Input is the ConfigMap as read.
	Input *corev1.ConfigMap
	// Operation is the write the input was checked as: an UPDATE when the
	// cluster stores an object of its name, else a CREATE.
	Operation policy.Operation
	webhook.DryRunResult
	// FlinkDeployment is what an admitted deployment becomes with
	// -o flinkdeployment (TranslateDeployments); Untranslatable says why
	// it cannot become one.
	FlinkDeployment *flinkop.FlinkDeployment
	Untranslatable  error
}

// Kind is the input's flinkgate kind label.
func (r *Result) Kind() string { return r.Input.Labels[resource.LabelKind] }

// Webhook is the name of the webhook that denied the input.
func (r *Result) Webhook() string {
	switch r.Stage {
	case policy.StageMutate:
		return MutatingWebhook
	case policy.StageValidate:
		return ValidatingWebhook
	}
	return ""
}

// Undecided reports a denial that says nothing about the input: a look-up
// failed or flinkgate failed internally.
func (r *Result) Undecided() bool {
	return !r.Allowed && (r.Reason == string(policy.ReasonUnavailable) || r.Reason == string(policy.ReasonInternal))
}

// Store finds the object a write of cm would update: nil when none is
// stored.
type Store interface {
	Stored(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error)
}

// Run admits every input through s, whose Lookup must be targets: as an
// UPDATE of the object store holds under its name, as the API server would
// see `kubectl apply`, else as a CREATE (store nil: nothing is stored).
// Targets go first, and each admitted new one is added to targets, so
// deployments in the same check may reference it, as they may when the files
// are applied together; a stored target is never replaced by a file's, and
// a deployment patched by a stored target that a file contradicts is warned.
// Results keep the inputs' order.
func Run(ctx context.Context, s *webhook.Server, targets *Targets, store Store, inputs []Input) ([]Result, error) {
	results := make([]Result, len(inputs))
	for _, pass := range []func(string) bool{
		func(kind string) bool { return kind == resource.KindTarget },
		func(kind string) bool { return kind != resource.KindTarget },
	} {
		for i, in := range inputs {
			kind := in.ConfigMap.Labels[resource.LabelKind]
			if !pass(kind) {
				continue
			}
			op, old, obj := policy.Create, (*corev1.ConfigMap)(nil), in.ConfigMap
			if store != nil {
				stored, err := store.Stored(ctx, in.ConfigMap)
				if err != nil {
					return nil, fmt.Errorf("%s: could not read the stored object a write would update: %w; try again", in.Source, err)
				}
				if stored != nil {
					op, old, obj = policy.Update, stored, applied(stored, in.ConfigMap)
				}
			}
			targets.Conflicts() // only this input's look-ups count
			d, err := s.DryRun(ctx, op, old, obj)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.Source, err)
			}
			for _, c := range targets.Conflicts() {
				d.Warnings = append(d.Warnings, c.String())
			}
			results[i] = Result{Source: in.Source, Input: in.ConfigMap, Operation: op, DryRunResult: *d}
			switch {
			case kind != resource.KindTarget:
			case old != nil:
				// The stored target decides; the file's is kept only to
				// tell the deployments that it differs.
				targets.Add(in.Source, in.ConfigMap)
			case d.Allowed:
				targets.Add(in.Source, d.Object)
			}
		}
	}
	return results, nil
}

// applied is the object the API server would be asked to store when the
// file cm is applied over stored: the stored object with the file's labels
// and annotations set, its data in place of the stored data, and its
// immutable field when it has one. (kubectl apply also removes labels and
// annotations an earlier apply set and the file no longer has; the webhooks
// decide nothing on those.)
func applied(stored, cm *corev1.ConfigMap) *corev1.ConfigMap {
	out := stored.DeepCopy()
	out.Labels = merged(out.Labels, cm.Labels)
	out.Annotations = merged(out.Annotations, cm.Annotations)
	out.Data, out.BinaryData = cm.Data, cm.BinaryData
	if cm.Immutable != nil {
		out.Immutable = cm.Immutable
	}
	for _, f := range cm.Finalizers {
		if !slices.Contains(out.Finalizers, f) {
			out.Finalizers = append(out.Finalizers, f)
		}
	}
	return out
}

func merged(stored, file map[string]string) map[string]string {
	if len(file) == 0 {
		return stored
	}
	out := maps.Clone(stored)
	if out == nil {
		out = make(map[string]string, len(file))
	}
	maps.Copy(out, file)
	return out
}
