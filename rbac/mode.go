package rbac

// The preflight's setting, the permissions it asks about, and what it
// found, with the message a denial or warning gives (preflight.go asks).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"

	"flinkgate.io/flinkgate/internal/enumflag"
)

// Mode is the --rbac-preflight setting: what a failed preflight does to a
// target CREATE.
type Mode string

const (
	// ModeEnforce denies the target and names the missing permissions.
	ModeEnforce Mode = "enforce"
	// ModeWarn admits the target with an admission warning.
	ModeWarn Mode = "warn"
	// ModeOff skips the check.
	ModeOff Mode = "off"
)

// ParseMode parses a --rbac-preflight value. It is strict (no trimming or case
// folding) so a typo in the chart value fails at start-up rather than silently
// weakening the check.
func ParseMode(s string) (Mode, error) {
	return enumflag.Parse("rbac preflight mode", s, ModeEnforce, ModeWarn, ModeOff)
}

// String implements flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set implements flag.Value, so *Mode can be passed to flag.Var.
func (m *Mode) Set(s string) error { return enumflag.Set(m, s, ParseMode) }

// Permission is one verb on one resource.
type Permission struct{ Group, Resource, Verb string }

// String renders the permission the way kubectl names resources:
// "create apps/deployments", "get pods" (core group without prefix).
func (p Permission) String() string { return p.Verb + " " + p.resourceName() }

func (p Permission) resourceName() string {
	if p.Group == "" {
		return p.Resource
	}
	return p.Group + "/" + p.Resource
}

// Attributes is the permission as an access review asks about it in
// namespace: a subresource ("flinkdeployments/status") goes into
// Subresource, as RBAC matches it.
func (p Permission) Attributes(namespace string) *authorizationv1.ResourceAttributes {
	resource, sub, _ := strings.Cut(p.Resource, "/")
	return &authorizationv1.ResourceAttributes{Namespace: namespace, Verb: p.Verb, Group: p.Group, Resource: resource, Subresource: sub}
}

func comparePermissions(a, b Permission) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Verb, b.Verb))
}

// Outcome is the result of one preflight. The values are the bounded label
// values of flinkgate_rbac_preflight_total{result}.
type Outcome string

const (
	OutcomeGranted          Outcome = "granted"
	OutcomeMissing          Outcome = "missing"
	OutcomeNamespaceMissing Outcome = "namespace_missing"
	OutcomeUnavailable      Outcome = "unavailable"
	OutcomeSkipped          Outcome = "skipped"
)

var outcomes = []Outcome{OutcomeGranted, OutcomeMissing, OutcomeNamespaceMissing, OutcomeUnavailable, OutcomeSkipped}

// Result is what a preflight found for one namespace.
type Result struct {
	Outcome   Outcome
	Namespace string
	// Missing lists the permissions the API server refused, sorted by group,
	// resource and verb. Set only for OutcomeMissing.
	Missing []Permission
	// Err says what went wrong for OutcomeUnavailable (timeout, API error).
	Err error
	// Timeout is the time the check was given; Problem quotes it when the API
	// server did not answer in time.
	Timeout time.Duration
}

// remedy is the chart's answer to a missing permission (SPEC section 5).
func remedy(ns string) string {
	return fmt.Sprintf("add %q to appmanager.rbac.additionalNamespaces and run helm upgrade", ns)
}

// flinkRemedy is the chart's answer when the missing permissions include
// the Flink operator's: its Roles carry them only with flinkOperator.enabled.
func flinkRemedy(ns string) string {
	return fmt.Sprintf("add %q to appmanager.rbac.additionalNamespaces and run helm upgrade with flinkOperator.enabled=true", ns)
}

// Problem returns "" when the check passed or was skipped, else a message for
// the user who created the target, naming what is wrong and how to fix it.
// It starts in lower case because kubectl prints it after "denied the
// request: " or "Warning: ".
func (r Result) Problem() string {
	switch r.Outcome {
	case OutcomeMissing:
		fix := remedy(r.Namespace)
		if slices.ContainsFunc(r.Missing, func(p Permission) bool { return p.Group == FlinkGroup }) {
			fix = flinkRemedy(r.Namespace)
		}
		return fmt.Sprintf("the platform's ServiceAccount lacks permissions to manage Flink clusters in namespace %q: %s. To grant them, %s.",
			r.Namespace, groupPermissions(r.Missing), fix)
	case OutcomeNamespaceMissing:
		return fmt.Sprintf("namespace %q does not exist, so Flink clusters cannot run there. Create it, then %s.",
			r.Namespace, remedy(r.Namespace))
	case OutcomeUnavailable:
		prefix := fmt.Sprintf("could not check that the platform's ServiceAccount may manage Flink clusters in namespace %q: ", r.Namespace)
		switch {
		case errors.Is(r.Err, context.DeadlineExceeded) && r.Timeout > 0:
			return prefix + fmt.Sprintf("the API server did not answer the access check within %s (%v). Try again.", r.Timeout, r.Err)
		case errors.Is(r.Err, context.DeadlineExceeded):
			return prefix + fmt.Sprintf("the API server did not answer the access check in time (%v). Try again.", r.Err)
		default:
			return prefix + fmt.Sprintf("the access check failed (%v). Try again.", r.Err)
		}
	}
	return ""
}

// groupPermissions renders permissions compactly: resources that lack the
// same verbs share one clause, e.g. "create, delete on apps/deployments,
// batch/jobs; get on pods". Listing all 80 required permissions one by one
// would bury the message.
func groupPermissions(perms []Permission) string {
	var resources []string
	verbs := map[string][]string{}
	for _, p := range perms {
		name := p.resourceName()
		if _, ok := verbs[name]; !ok {
			resources = append(resources, name)
		}
		verbs[name] = append(verbs[name], p.Verb)
	}
	var verbSets []string
	byVerbs := map[string][]string{}
	for _, name := range resources {
		key := strings.Join(verbs[name], ", ")
		if _, ok := byVerbs[key]; !ok {
			verbSets = append(verbSets, key)
		}
		byVerbs[key] = append(byVerbs[key], name)
	}
	clauses := make([]string, 0, len(verbSets))
	for _, key := range verbSets {
		clauses = append(clauses, key+" on "+strings.Join(byVerbs[key], ", "))
	}
	return strings.Join(clauses, "; ")
}

// requiredPermissions expands RequiredRules, and FlinkRules when flink is
// set, into single permissions, sorted and without duplicates. A
// subresource stays in Resource ("flinkdeployments/status"), as RBAC rules
// name it.
func requiredPermissions(flink bool) []Permission {
	var perms []Permission
	rules := RequiredRules()
	if flink {
		rules = append(rules, FlinkRules()...)
	}
	for _, rule := range rules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					perms = append(perms, Permission{Group: g, Resource: res, Verb: v})
				}
			}
		}
	}
	slices.SortFunc(perms, comparePermissions)
	return slices.Compact(perms)
}
