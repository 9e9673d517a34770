// RBAC: the appmanager Roles per additional namespace, the webhook's own
// least privilege and the ServiceAccount they bind.

package charts_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"flinkgate.io/flinkgate/rbac"
)

// TestRBAC checks the appmanager Roles, the webhook's own least-privilege RBAC
// and the ServiceAccount every binding names.
func TestRBAC(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "Each additional namespace gets a Role with exactly rbac.RequiredRules().",
			values: func(*testing.T) string { return additionalNamespacesValues },
			check: func(t *testing.T, m manifest) {
				for _, ns := range []string{"staging", "production"} {
					r := get[rbacv1.Role](t, m, "Role", ns, fullname+"-appmanager")
					sameRules(t, "Role "+ns+"/"+r.Name, r.Rules, rbac.RequiredRules())
				}
				if n := len(appmanagerRoles(m)); n != 2 {
					t.Errorf("%d appmanager Roles, want one per additional namespace", n)
				}
			},
		},
		{
			name:   "Each additional namespace's RoleBinding binds its Role to the platform's ServiceAccount.",
			values: func(*testing.T) string { return additionalNamespacesValues },
			check: func(t *testing.T, m manifest) {
				for _, ns := range []string{"staging", "production"} {
					rb := get[rbacv1.RoleBinding](t, m, "RoleBinding", ns, fullname+"-appmanager")
					if rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: fullname + "-appmanager"}) {
						t.Errorf("RoleBinding %s roleRef %+v", ns, rb.RoleRef)
					}
					wantSubjects(t, "RoleBinding "+ns, rb.Subjects, fullname)
				}
			},
		},
		{
			name:   "Without additional namespaces no appmanager Role is rendered.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				if r := appmanagerRoles(m); len(r) != 0 {
					t.Errorf("appmanager Roles rendered: %+v", r)
				}
			},
		},
		{
			name:   "The webhook's own RBAC grants only configmap reads and updates, events, namespace get and subject access reviews, to the webhook's ServiceAccount.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				cr := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-webhook")
				sameRules(t, "ClusterRole", cr.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
					{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
				})
				crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook")
				if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != cr.Name {
					t.Errorf("ClusterRoleBinding roleRef %+v", crb.RoleRef)
				}
				wantSubjects(t, "ClusterRoleBinding", crb.Subjects, fullname+"-webhook")
				r := get[rbacv1.Role](t, m, "Role", namespace, fullname+"-webhook")
				sameRules(t, "webhook Role", r.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "update"}},
					{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
				})
				if n := len(m.ofKind("ClusterRole")); n != 3 {
					t.Errorf("%d ClusterRoles, want only the webhook's and the two of authorization (authz_test.go)", n)
				}
			},
		},
		{
			name: "appmanager.rbac.create=false renders no RBAC objects at all.",
			values: func(*testing.T) string {
				return "appmanager:\n  rbac:\n    create: false\n    additionalNamespaces: [staging]\n"
			},
			check: func(t *testing.T, m manifest) {
				for _, kind := range []string{"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
					if objs := m.ofKind(kind); len(objs) != 0 {
						t.Errorf("%d %s objects rendered", len(objs), kind)
					}
				}
			},
		},
		{
			name:   "serviceAccount.name is the platform's account the appmanager Roles bind; the pods and the webhook's bindings use the webhook's own.",
			values: func(*testing.T) string { return "serviceAccount:\n  name: vvp-platform\n" + additionalNamespacesValues },
			check: func(t *testing.T, m manifest) {
				if !m.has("ServiceAccount", namespace, "vvp-platform") {
					t.Error("the ServiceAccount vvp-platform is not rendered")
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != fullname+"-webhook" {
					t.Errorf("serviceAccountName %s", got)
				}
				wantSubjects(t, "RoleBinding staging", get[rbacv1.RoleBinding](t, m, "RoleBinding", "staging", fullname+"-appmanager").Subjects, "vvp-platform")
				wantSubjects(t, "webhook RoleBinding", get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-webhook").Subjects, fullname+"-webhook")
				wantSubjects(t, "ClusterRoleBinding", get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook").Subjects, fullname+"-webhook")
			},
		},
		{
			name:   "serviceAccount.create=false renders no platform ServiceAccount but the preflight still asks about the named one.",
			values: func(*testing.T) string { return "serviceAccount:\n  create: false\n  name: existing\n" },
			check: func(t *testing.T, m manifest) {
				if sas := m.ofKind("ServiceAccount"); len(sas) != 1 || sas[0].Name != fullname+"-webhook" {
					t.Errorf("ServiceAccounts rendered: %+v; want only the webhook's", sas)
				}
				if args := container(t, m).Args; !slices.Contains(args, "--platform-service-account=existing") {
					t.Errorf("args %q lack --platform-service-account=existing", args)
				}
			},
		},
	})
}

func ruleKey(r rbacv1.PolicyRule) string {
	// %q keeps the core group "" visible: [""] is not the empty list.
	sorted := func(s []string) string { s = slices.Clone(s); slices.Sort(s); return fmt.Sprintf("%q", s) }
	return fmt.Sprintf("groups=%s resources=%s verbs=%s resourceNames=%s urls=%s",
		sorted(r.APIGroups), sorted(r.Resources), sorted(r.Verbs), sorted(r.ResourceNames), sorted(r.NonResourceURLs))
}

// sameRules compares rule sets ignoring order, each rule's lists as exact sets.
func sameRules(t *testing.T, what string, got, want []rbacv1.PolicyRule) {
	t.Helper()
	g, w := make([]string, 0, len(got)), make([]string, 0, len(want))
	for _, r := range got {
		g = append(g, ruleKey(r))
	}
	for _, r := range want {
		w = append(w, ruleKey(r))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s rules:\n  got:  %s\n  want: %s", what, strings.Join(g, "\n        "), strings.Join(w, "\n        "))
	}
}

func wantSubjects(t *testing.T, what string, got []rbacv1.Subject, sa string) {
	t.Helper()
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}
	if !slices.Equal(got, want) {
		t.Errorf("%s subjects %+v, want %+v", what, got, want)
	}
}

func appmanagerRoles(m manifest) []object {
	var out []object
	for _, o := range m.ofKind("Role") {
		if strings.HasSuffix(o.Name, "-appmanager") {
			out = append(out, o)
		}
	}
	return out
}
