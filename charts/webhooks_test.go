// The webhook configurations: SPEC section 5 settings and the served namespaces.

package charts_test

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestWebhookConfigurations checks both webhook configurations against SPEC
// section 5 and that every place naming the served namespaces agrees.
func TestWebhookConfigurations(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "Both webhooks carry the SPEC section 5 settings and reach the Service at /mutate and /validate.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				mw, vw := mutating(t, m), validating(t, m)
				if mw.Name != "mutate.flinkgate.io" || vw.Name != "validate.flinkgate.io" {
					t.Errorf("webhook names %s, %s", mw.Name, vw.Name)
				}
				want := wantCommon(t, []string{namespace}, 10)
				if got := common(t, mw.AdmissionReviewVersions, mw.SideEffects, mw.FailurePolicy, mw.MatchPolicy, mw.TimeoutSeconds, mw.Rules, mw.NamespaceSelector, mw.ObjectSelector); got != want {
					t.Errorf("mutating webhook:\n  got:  %s\n  want: %s", got, want)
				}
				if got := common(t, vw.AdmissionReviewVersions, vw.SideEffects, vw.FailurePolicy, vw.MatchPolicy, vw.TimeoutSeconds, vw.Rules, vw.NamespaceSelector, vw.ObjectSelector); got != want {
					t.Errorf("validating webhook:\n  got:  %s\n  want: %s", got, want)
				}
				if mw.ReinvocationPolicy == nil || *mw.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy {
					t.Errorf("reinvocationPolicy %v, want Never", mw.ReinvocationPolicy)
				}
				for name, path := range map[string]string{"mutating": "/mutate", "validating": "/validate"} {
					cc := clientConfigs(t, m)[name]
					s := cc.Service
					if cc.URL != nil || s == nil || s.Name != fullname || s.Namespace != namespace || s.Path == nil || *s.Path != path || s.Port == nil || *s.Port != 443 {
						t.Errorf("%s clientConfig %+v, want the Service %s/%s:443%s", name, cc, namespace, fullname, path)
					}
				}
			},
		},
		{
			name:   "webhook.timeoutSeconds reaches both webhooks.",
			values: func(*testing.T) string { return "webhook:\n  timeoutSeconds: 5\n" },
			check: func(t *testing.T, m manifest) {
				for name, got := range map[string]*int32{"mutating": mutating(t, m).TimeoutSeconds, "validating": validating(t, m).TimeoutSeconds} {
					if got == nil || *got != 5 {
						t.Errorf("%s timeoutSeconds %v, want 5", name, got)
					}
				}
			},
		},
		{
			name:   "By default the release namespace is served: flag, both namespaceSelectors and the webhook's Role agree.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				wantServed(t, m, []string{namespace})
			},
		},
		{
			name:   "webhook.namespaces is served: flag, both namespaceSelectors and the webhook's Roles agree.",
			values: func(*testing.T) string { return "webhook:\n  namespaces: [team-a, team-b]\n" },
			check: func(t *testing.T, m manifest) {
				wantServed(t, m, []string{"team-a", "team-b"})
			},
		},
	})
}

func servedNamespaces(t *testing.T, sel *metav1.LabelSelector) []string {
	t.Helper()
	if sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 {
		t.Fatalf("namespaceSelector %+v: want exactly one expression", sel)
	}
	e := sel.MatchExpressions[0]
	if e.Key != "kubernetes.io/metadata.name" || e.Operator != "In" {
		t.Fatalf("namespaceSelector expression %+v: want kubernetes.io/metadata.name In", e)
	}
	return e.Values
}

func wantServed(t *testing.T, m manifest, served []string) {
	t.Helper()
	if want := "--namespaces=" + strings.Join(served, ","); !slices.Contains(container(t, m).Args, want) {
		t.Errorf("args %q lack %s", container(t, m).Args, want)
	}
	for name, sel := range map[string]*metav1.LabelSelector{"mutating": mutating(t, m).NamespaceSelector, "validating": validating(t, m).NamespaceSelector} {
		if got := servedNamespaces(t, sel); !slices.Equal(got, served) {
			t.Errorf("%s namespaceSelector values %q, want %q", name, got, served)
		}
	}
	var roleNS []string
	for _, o := range m.ofKind("Role") {
		if o.Name == fullname+"-webhook" {
			roleNS = append(roleNS, o.Namespace)
			if !m.has("RoleBinding", o.Namespace, o.Name) {
				t.Errorf("the webhook Role in %s has no RoleBinding", o.Namespace)
			}
		}
	}
	slices.Sort(roleNS)
	want := slices.Sorted(slices.Values(served))
	if !slices.Equal(roleNS, want) {
		t.Errorf("webhook Roles in %q, want %q", roleNS, want)
	}
}

func wantCommon(t *testing.T, served []string, timeout int32) string {
	t.Helper()
	se, fp, mp := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Fail, admissionregistrationv1.Equivalent
	scope := admissionregistrationv1.NamespacedScope
	return common(t, []string{"v1"}, &se, &fp, &mp, &timeout,
		[]admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}, Scope: &scope},
		}},
		&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: "In", Values: served}}},
		&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "flinkgate.io/kind", Operator: "Exists"}}},
	)
}

// common renders the SPEC-fixed fields of a webhook as YAML, so mutating and
// validating webhooks (different Go types) compare with one expectation.
func common(t *testing.T, arv []string, se *admissionregistrationv1.SideEffectClass, fp *admissionregistrationv1.FailurePolicyType,
	mp *admissionregistrationv1.MatchPolicyType, timeout *int32, rules []admissionregistrationv1.RuleWithOperations,
	ns, obj *metav1.LabelSelector) string {
	t.Helper()
	out, err := yaml.Marshal(map[string]any{
		"admissionReviewVersions": arv, "sideEffects": se, "failurePolicy": fp, "matchPolicy": mp,
		"timeoutSeconds": timeout, "rules": rules, "namespaceSelector": ns, "objectSelector": obj,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
