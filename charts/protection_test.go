package charts_test

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The chart's part of in-use protection: the Lease, and the namespace
// controller's way past the webhooks.
func TestProtectionInTheChart(t *testing.T) {
	m := mustRender(t, "")
	t.Run("The leader-election Role grants the protection Lease in the release namespace and nothing else.", func(t *testing.T) {
		r := get[rbacv1.Role](t, m, "Role", namespace, fullname+"-leader-election")
		sameRules(t, "leader-election Role", r.Rules, []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{fullname + "-protection"}, Verbs: []string{"get", "update"}},
		})
		rb := get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-leader-election")
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != r.Name {
			t.Errorf("RoleBinding roleRef %+v", rb.RoleRef)
		}
		wantSubjects(t, "leader-election RoleBinding", rb.Subjects, fullname+"-webhook")
	})
	t.Run("Both webhooks skip only the namespace controller's requests, so a namespace being deleted can be emptied, and UPDATEs that change nothing flinkgate reads.", func(t *testing.T) {
		const want = "request.userInfo.username != 'system:serviceaccount:kube-system:namespace-controller'"
		for name, mc := range map[string][]admissionregistrationv1.MatchCondition{
			"mutating":   mutating(t, m).MatchConditions,
			"validating": validating(t, m).MatchConditions,
		} {
			// The second's expression is in the golden renders; e2e
			// TestOnlyUpdatesThatChangeWhatFlinkgateReadsAreSentToIt checks
			// what it lets through on a real API server.
			if len(mc) != 2 || mc[0].Name != "not-the-namespace-controller" || mc[0].Expression != want || mc[1].Name != "changes-what-flinkgate-reads" {
				t.Errorf("%s webhook matchConditions %+v, want not-the-namespace-controller (%q) and changes-what-flinkgate-reads", name, mc, want)
			}
		}
	})
}
