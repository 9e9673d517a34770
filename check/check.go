package check

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/policy"
	"flinkgate.io/flinkgate/resource"
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
	webhook.DryRunResult
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

// Run admits every input as a CREATE through s, whose Lookup must be
// targets. Targets go first, and each admitted one is added to targets as
// stored, so deployments in the same check may reference it, as they may
// when the files are applied together. Results keep the inputs' order.
func Run(ctx context.Context, s *webhook.Server, targets *Targets, inputs []Input) ([]Result, error) {
	results := make([]Result, len(inputs))
	for _, pass := range []func(string) bool{
		func(kind string) bool { return kind == resource.KindTarget },
		func(kind string) bool { return kind != resource.KindTarget },
	} {
		for i, in := range inputs {
			if !pass(in.ConfigMap.Labels[resource.LabelKind]) {
				continue
			}
			d, err := s.DryRun(ctx, policy.Create, nil, in.ConfigMap)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.Source, err)
			}
			results[i] = Result{Source: in.Source, Input: in.ConfigMap, DryRunResult: *d}
			if d.Allowed && in.ConfigMap.Labels[resource.LabelKind] == resource.KindTarget {
				targets.Add(d.Object)
			}
		}
	}
	return results, nil
}
