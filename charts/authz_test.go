package charts_test

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The chart's side of issue 11: the roles users are bound to, the webhook's
// own ServiceAccount and the authorization values.

const authzValues = `
authorization:
  mode: "off"
  aggregateToAdmin: true
  aggregateToEdit: true
webhook:
  serviceAccount:
    name: gatekeeper
    annotations: {example.com/role: webhook}
`

func TestAuthorizationGoldenRender(t *testing.T) {
	out, err := render(t, authzValues)
	if err != nil {
		t.Fatal(err)
	}
	checkRender(t, "authorization.yaml", out)
}

func TestAuthorizationRoles(t *testing.T) {
	targetAdminRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"flinkgate.io"}, Resources: []string{"deploymenttargets"}, Verbs: []string{"create", "update", "delete", "use"}},
	}
	deployerRules := []rbacv1.PolicyRule{
		{APIGroups: []string{"flinkgate.io"}, Resources: []string{"deploymenttargets"}, Verbs: []string{"use"}},
		{APIGroups: []string{"flinkgate.io"}, Resources: []string{"deployments"}, Verbs: []string{"create", "update", "delete"}},
	}
	const (
		toAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
		toEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	)
	cases := []struct {
		name   string
		values string
		check  func(t *testing.T, m manifest)
	}{
		{
			name:   "The target-admin ClusterRole grants create, update, delete and use on deploymenttargets.flinkgate.io and nothing else.",
			values: "",
			check: func(t *testing.T, m manifest) {
				sameRules(t, "target-admin", get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-target-admin").Rules, targetAdminRules)
			},
		},
		{
			name:   "The deployer ClusterRole grants use on deploymenttargets and create, update, delete on deployments.flinkgate.io and nothing else.",
			values: "",
			check: func(t *testing.T, m manifest) {
				sameRules(t, "deployer", get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-deployer").Rules, deployerRules)
			},
		},
		{
			name:   "By default neither role is aggregated into the built-in admin or edit roles.",
			values: "",
			check: func(t *testing.T, m manifest) {
				for _, name := range []string{"-target-admin", "-deployer"} {
					labels := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+name).Labels
					if labels[toAdmin] != "" || labels[toEdit] != "" {
						t.Errorf("%s%s is aggregated by default: %v", fullname, name, labels)
					}
				}
			},
		},
		{
			name:   "authorization.aggregateToAdmin aggregates target-admin into admin only.",
			values: "authorization:\n  aggregateToAdmin: true\n",
			check: func(t *testing.T, m manifest) {
				if l := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-target-admin").Labels; l[toAdmin] != "true" || l[toEdit] != "" {
					t.Errorf("target-admin labels %v, want aggregate-to-admin only", l)
				}
				if l := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-deployer").Labels; l[toAdmin] != "" || l[toEdit] != "" {
					t.Errorf("deployer labels %v, want no aggregation", l)
				}
			},
		},
		{
			name:   "authorization.aggregateToEdit aggregates deployer into edit only.",
			values: "authorization:\n  aggregateToEdit: true\n",
			check: func(t *testing.T, m manifest) {
				if l := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-deployer").Labels; l[toEdit] != "true" || l[toAdmin] != "" {
					t.Errorf("deployer labels %v, want aggregate-to-edit only", l)
				}
				if l := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-target-admin").Labels; l[toAdmin] != "" || l[toEdit] != "" {
					t.Errorf("target-admin labels %v, want no aggregation", l)
				}
			},
		},
		{
			name:   "appmanager.rbac.create=false renders neither role.",
			values: "appmanager:\n  rbac:\n    create: false\n",
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("ClusterRole")); n != 0 {
					t.Errorf("%d ClusterRoles rendered", n)
				}
			},
		},
		{
			name:   "authorization.mode reaches flinkgate serve --authorization, and rbac is the default.",
			values: "authorization:\n  mode: \"off\"\n",
			check: func(t *testing.T, m manifest) {
				if args := container(t, m).Args; !slices.Contains(args, "--authorization=off") {
					t.Errorf("args %q lack --authorization=off", args)
				}
			},
		},
		{
			name:   "The webhook runs as its own ServiceAccount and the preflight asks about the platform's.",
			values: "",
			check: func(t *testing.T, m manifest) {
				for _, sa := range []string{fullname, fullname + "-webhook"} {
					if !m.has("ServiceAccount", namespace, sa) {
						t.Errorf("ServiceAccount %s is not rendered", sa)
					}
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != fullname+"-webhook" {
					t.Errorf("the pods run as %s, want %s-webhook", got, fullname)
				}
				if args := container(t, m).Args; !slices.Contains(args, "--platform-service-account="+fullname) {
					t.Errorf("args %q lack --platform-service-account=%s", args, fullname)
				}
			},
		},
		{
			name:   "webhook.serviceAccount.name names the pods' account and the subject of the webhook's bindings.",
			values: "webhook:\n  serviceAccount:\n    name: gatekeeper\n",
			check: func(t *testing.T, m manifest) {
				if !m.has("ServiceAccount", namespace, "gatekeeper") {
					t.Error("ServiceAccount gatekeeper is not rendered")
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != "gatekeeper" {
					t.Errorf("the pods run as %s, want gatekeeper", got)
				}
				wantSubjects(t, "webhook RoleBinding", get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-webhook").Subjects, "gatekeeper")
				wantSubjects(t, "webhook ClusterRoleBinding", get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook").Subjects, "gatekeeper")
			},
		},
		{
			name:   "webhook.serviceAccount.create=false renders no webhook ServiceAccount but still runs as it.",
			values: "webhook:\n  serviceAccount:\n    create: false\n    name: existing-webhook\n",
			check: func(t *testing.T, m manifest) {
				if m.has("ServiceAccount", namespace, "existing-webhook") {
					t.Error("ServiceAccount existing-webhook is rendered")
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != "existing-webhook" {
					t.Errorf("the pods run as %s, want existing-webhook", got)
				}
			},
		},
		{
			name:   "A webhook ServiceAccount named like the platform's is rendered once.",
			values: "serviceAccount:\n  name: shared\nwebhook:\n  serviceAccount:\n    name: shared\n",
			check: func(t *testing.T, m manifest) {
				if sas := m.ofKind("ServiceAccount"); len(sas) != 1 || sas[0].Name != "shared" {
					t.Errorf("ServiceAccounts %+v, want shared once", sas)
				}
			},
		},
		{
			name:   "No binding of the chart gives the webhook's ServiceAccount rights in target namespaces.",
			values: additionalNamespacesValues,
			check: func(t *testing.T, m manifest) {
				for _, o := range m.ofKind("RoleBinding") {
					rb := decode[rbacv1.RoleBinding](t, o)
					for _, s := range rb.Subjects {
						if s.Name == fullname+"-webhook" && rb.Namespace != namespace {
							t.Errorf("RoleBinding %s/%s binds the webhook's ServiceAccount outside the served namespace", rb.Namespace, rb.Name)
						}
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustRender(t, tc.values))
		})
	}
}

func TestRejectedAuthorizationValues(t *testing.T) {
	const schemaError = "values don't meet the specifications of the schema"
	cases := []struct {
		name, values string
		wantErr      []string
	}{
		{"An unknown authorization.mode fails the install.", "authorization:\n  mode: abac\n", []string{schemaError, "/authorization/mode"}},
		{"The typo authorization.aggregateToAdmins fails the install.", "authorization:\n  aggregateToAdmins: true\n", []string{schemaError, "'aggregateToAdmins' not allowed"}},
		{"A string authorization.aggregateToEdit fails the install.", "authorization:\n  aggregateToEdit: \"yes\"\n", []string{schemaError, "/authorization/aggregateToEdit", "want boolean"}},
		{"The typo webhook.serviceAccount.nam fails the install.", "webhook:\n  serviceAccount:\n    nam: x\n", []string{schemaError, "/webhook/serviceAccount", "'nam' not allowed"}},
		{"authorization.mode=off with flinkOperator.enabled fails the install and says what to set.", "authorization:\n  mode: \"off\"\nflinkOperator:\n  enabled: true\n", []string{"flinkOperator.enabled needs authorization.mode=rbac", "set authorization.mode=rbac"}},
		{"A webhook ServiceAccount name that is not a DNS subdomain fails the install.", "webhook:\n  serviceAccount:\n    name: Bad_Name\n", []string{schemaError, "/webhook/serviceAccount/name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatal("helm template succeeded")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}
