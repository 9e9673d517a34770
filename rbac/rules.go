// Package rbac knows which Kubernetes permissions the platform's ServiceAccount
// needs in a target namespace, and checks that it holds them.
package rbac

import rbacv1 "k8s.io/api/rbac/v1"

// ManageVerbs are the verbs the platform needs on every resource it manages.
var ManageVerbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

// ReadVerbs are the verbs the platform needs on events: it reads them to report
// why a Flink cluster does not start, and never writes them.
var ReadVerbs = []string{"get", "list", "watch"}

// RequiredRules is the one source of truth for what "may manage Flink clusters
// in a namespace" means (SPEC section 5). The chart's per-namespace Role must
// grant exactly these rules; a test renders the chart and compares.
func RequiredRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: ManageVerbs},
		{APIGroups: []string{""}, Resources: []string{"configmaps", "pods", "services", "secrets", "serviceaccounts"}, Verbs: ManageVerbs},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: ManageVerbs},
		{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: ManageVerbs},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: ManageVerbs},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: ManageVerbs},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: ReadVerbs},
	}
}

// FlinkGroup is the Apache Flink Kubernetes Operator's API group.
const FlinkGroup = "flink.apache.org"

// FlinkRules are what the platform additionally needs in a target namespace
// when flinkgate reconciles Deployments into FlinkDeployments
// (--flink-operator=on): it writes them there with the platform's identity,
// reads their status, and reads the snapshots that name the last savepoint.
// The chart adds exactly these rules to each appmanager Role when
// flinkOperator.enabled is set; a test renders the chart and compares.
func FlinkRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{FlinkGroup}, Resources: []string{"flinkdeployments"}, Verbs: ManageVerbs},
		{APIGroups: []string{FlinkGroup}, Resources: []string{"flinkdeployments/status"}, Verbs: []string{"get"}},
		{APIGroups: []string{FlinkGroup}, Resources: []string{"flinkstatesnapshots"}, Verbs: ReadVerbs},
	}
}
