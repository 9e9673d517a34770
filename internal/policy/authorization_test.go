package policy

import (
	"errors"
	"testing"
)

func TestUnauthorized(t *testing.T) {
	cases := []struct {
		name                         string
		verb, resource, resourceName string
		err                          error
		reason                       Reason
		wantTarget                   string
		says                         []string
	}{
		{name: "Use of a target names the target and the deployer role that grants it.",
			verb: "use", resource: authzTargets, resourceName: "production", reason: ReasonForbidden, wantTarget: "production",
			says: []string{`user "alice" may not use target "production"`, `grant the verb "use" on deploymenttargets.flinkgate.io named "production" in namespace "flink-platform"`, roleDeployer}},
		{name: "Creating targets names the namespace and the target admin role.",
			verb: "create", resource: authzTargets, reason: ReasonForbidden,
			says: []string{`may not create targets in namespace "flink-platform"`, roleTargetAdmin}},
		{name: "Deleting a target names it and the target admin role.",
			verb: "delete", resource: authzTargets, resourceName: "staging", reason: ReasonForbidden, wantTarget: "staging",
			says: []string{`may not delete target "staging"`, roleTargetAdmin}},
		{name: "Creating deployments names the namespace and the deployer role.",
			verb: "create", resource: "deployments", reason: ReasonForbidden,
			says: []string{`may not create deployments in namespace "flink-platform"`, roleDeployer}},
		{name: "Updating a deployment names it and the deployer role.",
			verb: "update", resource: "deployments", resourceName: "job", reason: ReasonForbidden,
			says: []string{`may not update deployment "job"`, roleDeployer}},
		{name: "A check that could not be answered is unavailable, saying why and to try again.",
			verb: "use", resource: authzTargets, resourceName: "production", err: errors.New("connection refused"), reason: ReasonUnavailable, wantTarget: "production",
			says: []string{`could not check whether user "alice" may use target "production"`, "connection refused", "try again"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Unauthorized("alice", "flink-platform", tc.verb, tc.resource, tc.resourceName, tc.err)
			wantDecision(t, d, false, tc.reason, tc.says...)
			if d.Target != tc.wantTarget {
				t.Errorf("decision names target %q, want %q", d.Target, tc.wantTarget)
			}
		})
	}
}

func TestUnauthorizedTargetNamespace(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		reason Reason
		says   []string
	}{
		{name: "A refusal names the target, its namespace, why it matters and the exact grant.",
			reason: ReasonForbidden,
			says: []string{`user "mallory" may not create target "exfil" for namespace "victim": flinkgate would create Flink clusters there as the platform; ` +
				`grant the verb "create" on flinkdeployments.flink.apache.org in namespace "victim"`}},
		{name: "A check that could not be answered is unavailable, saying what was asked, why and to try again.",
			err: errors.New("connection refused"), reason: ReasonUnavailable,
			says: []string{`could not check whether user "mallory" may create target "exfil" for namespace "victim" (create on flinkdeployments.flink.apache.org there): connection refused; try again`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := UnauthorizedTargetNamespace("mallory", "exfil", "victim", tc.err)
			wantDecision(t, d, false, tc.reason, tc.says...)
			if d.Target != "exfil" {
				t.Errorf("decision names target %q, want %q", d.Target, "exfil")
			}
		})
	}
}
