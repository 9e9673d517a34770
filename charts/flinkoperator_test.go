// The chart's side of issue 23: flinkOperator.enabled runs the reconciler
// of Deployments into FlinkDeployments and grants what it needs; off, the
// chart renders exactly what it rendered before.

package charts_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"flinkgate.io/flinkgate/rbac"
)

const (
	flinkOperatorValues = additionalNamespacesValues + "flinkOperator:\n  enabled: true\n"
	// flinkJobValues also creates the Flink pods' ServiceAccount, under a
	// name of its own, and allows two others.
	flinkJobValues = additionalNamespacesValues + `flinkOperator:
  enabled: true
  serviceAccount: flink-jobs
  allowedServiceAccounts: [etl-jobs, fraud-jobs]
  jobServiceAccount:
    create: true
`
	// flinkOffValues sets every flinkOperator value but enabled.
	flinkOffValues = `flinkOperator:
  enabled: false
  serviceAccount: flink-jobs
  allowedServiceAccounts: [etl-jobs, fraud-jobs]
  jobServiceAccount:
    create: true
`
)

func TestFlinkOperatorGoldenRenders(t *testing.T) {
	cases := []struct {
		name   string
		golden string
		values string
	}{
		{"flinkOperator.enabled with two additional namespaces adds the flag, the Flink rules to their Roles and the webhook's reads, patches and impersonation.", "flink-operator.yaml", flinkOperatorValues},
		{"flinkOperator.jobServiceAccount.create adds the Flink pods' ServiceAccount, Role and RoleBinding in each additional namespace, and allowedServiceAccounts becomes --flink-allowed-service-accounts.", "flink-operator-job-service-account.yaml", flinkJobValues},
		// The goldens of the chart as it was: off, the other values change nothing.
		{"flinkOperator.enabled=false renders the defaults' golden byte for byte, whatever the other flinkOperator values say.", "defaults.yaml", flinkOffValues},
		{"flinkOperator.enabled=false with additional namespaces renders their golden byte for byte.", "additional-namespaces.yaml", additionalNamespacesValues + flinkOffValues},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			checkRender(t, tc.golden, out)
		})
	}
}

func TestFlinkOperatorInTheChart(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "With flinkOperator.enabled each additional namespace's Role has exactly rbac.RequiredRules() and rbac.FlinkRules().",
			values: func(*testing.T) string { return flinkOperatorValues },
			check: func(t *testing.T, m manifest) {
				for _, ns := range []string{"staging", "production"} {
					r := get[rbacv1.Role](t, m, "Role", ns, fullname+"-appmanager")
					sameRules(t, "Role "+ns+"/"+r.Name, r.Rules, append(rbac.RequiredRules(), rbac.FlinkRules()...))
				}
			},
		},
		{
			name:   "With flinkOperator.enabled serve runs with --flink-operator=on and --flink-service-account from flinkOperator.serviceAccount, before extraArgs.",
			values: func(*testing.T) string { return flinkJobValues + "extraArgs: [--log-level=debug]\n" },
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				on := slices.Index(args, "--flink-operator=on")
				sa := slices.Index(args, "--flink-service-account=flink-jobs")
				if on < 0 || sa < 0 || on > slices.Index(args, "--log-level=debug") {
					t.Errorf("args %q lack --flink-operator=on and --flink-service-account=flink-jobs before extraArgs", args)
				}
			},
		},
		{
			name:   "flinkOperator.allowedServiceAccounts becomes one --flink-allowed-service-accounts, comma-separated; with it empty serve gets no such flag.",
			values: func(*testing.T) string { return flinkJobValues },
			check: func(t *testing.T, m manifest) {
				if args := container(t, m).Args; !slices.Contains(args, "--flink-allowed-service-accounts=etl-jobs,fraud-jobs") {
					t.Errorf("args %q lack --flink-allowed-service-accounts=etl-jobs,fraud-jobs", args)
				}
			},
		},
		{
			name:   "With flinkOperator.enabled and no allowed ServiceAccounts serve gets no --flink-allowed-service-accounts.",
			values: func(*testing.T) string { return flinkOperatorValues },
			check: func(t *testing.T, m manifest) {
				for _, a := range container(t, m).Args {
					if strings.HasPrefix(a, "--flink-allowed-service-accounts") {
						t.Errorf("args include %q", a)
					}
				}
			},
		},
		{
			name:   "By default serve runs without either flag, so the operator is off.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				for _, a := range container(t, m).Args {
					if strings.HasPrefix(a, "--flink-") {
						t.Errorf("default args include %q", a)
					}
				}
			},
		},
		{
			name:   "With flinkOperator.enabled the webhook's ClusterRole adds exactly get, list and watch on flinkdeployments and flinkstatesnapshots.",
			values: func(*testing.T) string { return flinkOperatorValues },
			check: func(t *testing.T, m manifest) {
				cr := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-webhook")
				sameRules(t, "ClusterRole", cr.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
					{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
					{APIGroups: []string{rbac.FlinkGroup}, Resources: []string{"flinkdeployments", "flinkstatesnapshots"}, Verbs: []string{"get", "list", "watch"}},
				})
			},
		},
		{
			name:   "With flinkOperator.enabled the webhook may impersonate the platform's ServiceAccount, by name, in the release namespace, and no other.",
			values: func(*testing.T) string { return "serviceAccount:\n  name: vvp-platform\n" + flinkOperatorValues },
			check: func(t *testing.T, m manifest) {
				r := get[rbacv1.Role](t, m, "Role", namespace, fullname+"-leader-election")
				sameRules(t, "release namespace Role", r.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
					{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{fullname + "-protection"}, Verbs: []string{"get", "update"}},
					{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, ResourceNames: []string{"vvp-platform"}, Verbs: []string{"impersonate"}},
				})
				wantSubjects(t, "release namespace RoleBinding", get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-leader-election").Subjects, fullname+"-webhook")
				for _, kind := range []string{"Role", "ClusterRole"} {
					for _, o := range m.ofKind(kind) {
						for _, rule := range decode[rbacv1.Role](t, o).Rules {
							if slices.Contains(rule.Verbs, "impersonate") && !slices.Equal(rule.ResourceNames, []string{"vvp-platform"}) {
								t.Errorf("%s %s/%s may impersonate %q", kind, o.Namespace, o.Name, rule.ResourceNames)
							}
						}
					}
				}
			},
		},
		{
			name:   "With flinkOperator.enabled the webhook's Role in each served namespace stays as it was: its update on ConfigMaps writes the finalizer and the state annotations.",
			values: func(*testing.T) string { return flinkOperatorValues + "webhook:\n  namespaces: [team-a, team-b]\n" },
			check: func(t *testing.T, m manifest) {
				for _, ns := range []string{"team-a", "team-b"} {
					r := get[rbacv1.Role](t, m, "Role", ns, fullname+"-webhook")
					sameRules(t, "webhook Role "+ns, r.Rules, []rbacv1.PolicyRule{
						{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "update"}},
						{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
					})
				}
			},
		},
		{
			name:   "flinkOperator.jobServiceAccount.create renders in each additional namespace the Flink pods' ServiceAccount, bound to a Role with the operator chart's job rules, all kept on uninstall.",
			values: func(*testing.T) string { return flinkJobValues },
			check: func(t *testing.T, m manifest) {
				for _, ns := range []string{"staging", "production"} {
					sa := get[corev1.ServiceAccount](t, m, "ServiceAccount", ns, "flink-jobs")
					r := get[rbacv1.Role](t, m, "Role", ns, fullname+"-flink-job")
					sameRules(t, "job Role "+ns, r.Rules, []rbacv1.PolicyRule{
						{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: []string{"*"}},
						{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/finalizers"}, Verbs: []string{"*"}},
					})
					rb := get[rbacv1.RoleBinding](t, m, "RoleBinding", ns, fullname+"-flink-job")
					if rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: r.Name}) {
						t.Errorf("RoleBinding %s roleRef %+v", ns, rb.RoleRef)
					}
					if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "flink-jobs", Namespace: ns}}; !slices.Equal(rb.Subjects, want) {
						t.Errorf("RoleBinding %s subjects %+v, want %+v", ns, rb.Subjects, want)
					}
					for what, a := range map[string]map[string]string{"ServiceAccount": sa.Annotations, "Role": r.Annotations, "RoleBinding": rb.Annotations} {
						if a["helm.sh/resource-policy"] != "keep" {
							t.Errorf("%s in %s is not kept on uninstall: annotations %v", what, ns, a)
						}
					}
				}
			},
		},
		{
			name:   "With flinkOperator.enabled and the default jobServiceAccount.create=false, no Flink pods' ServiceAccount is rendered.",
			values: func(*testing.T) string { return flinkOperatorValues },
			check: func(t *testing.T, m manifest) {
				for _, o := range m.ofKind("ServiceAccount") {
					if o.Namespace != namespace {
						t.Errorf("ServiceAccount %s/%s rendered", o.Namespace, o.Name)
					}
				}
			},
		},
	})
}
