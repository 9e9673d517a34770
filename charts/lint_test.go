// Strict helm lint, and that every rendered object is well formed: a known
// kind and API version, strict decoding, the right scope and the common labels.

package charts_test

import (
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestLintIsClean(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
	}{
		{"The default values lint clean in strict mode.", noValues},
		{"tls.mode=certManager lints clean in strict mode.", func(*testing.T) string { return certManagerValues }},
		{"tls.mode=secret lints clean in strict mode.", secretModeValues},
		{"webhook.url mode lints clean in strict mode.", func(*testing.T) string { return urlValues }},
		{"Additional namespaces and a ServiceMonitor lint clean in strict mode.", func(*testing.T) string {
			return additionalNamespacesValues + "metrics:\n  serviceMonitor:\n    enabled: true\n"
		}},
		{"flinkOperator with the Flink pods' ServiceAccount lints clean in strict mode.", func(*testing.T) string { return flinkJobValues }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, "lint", "--strict", chartDir, "--kube-version", kubeVersion,
				"--namespace", namespace, "--values", valuesFile(t, tc.values(t)))
			if err != nil {
				t.Fatalf("lint: %v\n%s", err, out)
			}
		})
	}
}

// kinds the chart may render, with their API versions; typed kinds decode
// strictly into their k8s.io/api types.
var kinds = map[string]struct {
	apiVersion string
	typed      func(t *testing.T, o object)
}{
	"ServiceAccount":                 {"v1", func(t *testing.T, o object) { decode[corev1.ServiceAccount](t, o) }},
	"Secret":                         {"v1", func(t *testing.T, o object) { decode[corev1.Secret](t, o) }},
	"Service":                        {"v1", func(t *testing.T, o object) { decode[corev1.Service](t, o) }},
	"Deployment":                     {"apps/v1", func(t *testing.T, o object) { decode[appsv1.Deployment](t, o) }},
	"PodDisruptionBudget":            {"policy/v1", func(t *testing.T, o object) { decode[policyv1.PodDisruptionBudget](t, o) }},
	"Role":                           {"rbac.authorization.k8s.io/v1", func(t *testing.T, o object) { decode[rbacv1.Role](t, o) }},
	"RoleBinding":                    {"rbac.authorization.k8s.io/v1", func(t *testing.T, o object) { decode[rbacv1.RoleBinding](t, o) }},
	"ClusterRole":                    {"rbac.authorization.k8s.io/v1", func(t *testing.T, o object) { decode[rbacv1.ClusterRole](t, o) }},
	"ClusterRoleBinding":             {"rbac.authorization.k8s.io/v1", func(t *testing.T, o object) { decode[rbacv1.ClusterRoleBinding](t, o) }},
	"MutatingWebhookConfiguration":   {"admissionregistration.k8s.io/v1", func(t *testing.T, o object) { decode[admissionregistrationv1.MutatingWebhookConfiguration](t, o) }},
	"ValidatingWebhookConfiguration": {"admissionregistration.k8s.io/v1", func(t *testing.T, o object) { decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, o) }},
	"Issuer":                         {"cert-manager.io/v1", nil},
	"Certificate":                    {"cert-manager.io/v1", nil},
	"ServiceMonitor":                 {"monitoring.coreos.com/v1", nil},
}

var clusterScoped = []string{"ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}

func TestEveryObjectIsWellFormed(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
	}{
		{"With the default values every object decodes strictly and is labelled.", noValues},
		{"With every optional feature on, every object decodes strictly and is labelled.", func(*testing.T) string {
			return additionalNamespacesValues + certManagerValues + `
webhook:
  url: https://127.0.0.1:9443
  namespaces: [team-a, team-b]
metrics:
  serviceMonitor:
    enabled: true
    labels: {release: prometheus}
podLabels: {team: data}
podAnnotations: {example.com/owner: data}
nodeSelector: {kubernetes.io/os: linux}
imagePullSecrets: [{name: regcred}]
priorityClassName: system-cluster-critical
`
		}},
		{"With flinkOperator and the Flink pods' ServiceAccount every object decodes strictly and is labelled.", func(*testing.T) string { return flinkJobValues }},
		{"In secret mode every object decodes strictly and is labelled.", secretModeValues},
		{"With webhook.clientAuth and networkPolicy.webhookFrom every object decodes strictly and is labelled.", allClientAuthValues},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustRender(t, tc.values(t))
			for _, o := range m {
				k, ok := kinds[o.Kind]
				if !ok {
					t.Errorf("unexpected kind %s (%s)", o.Kind, o.Name)
					continue
				}
				if o.APIVersion != k.apiVersion {
					t.Errorf("%s %s: apiVersion %s, want %s", o.Kind, o.Name, o.APIVersion, k.apiVersion)
				}
				if k.typed != nil {
					k.typed(t, o)
				}
				if wantNS := !slices.Contains(clusterScoped, o.Kind); wantNS != (o.Namespace != "") {
					t.Errorf("%s %s: namespace %q; namespaced objects need one, cluster-scoped ones none", o.Kind, o.Name, o.Namespace)
				}
				meta := untyped(t, m, o.Kind, o.Namespace, o.Name)
				labels, _ := field(t, meta, "metadata", "labels").(map[string]any)
				for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
					if labels[l] == nil {
						t.Errorf("%s %s lacks the label %s", o.Kind, o.Name, l)
					}
				}
			}
		})
	}
}
