// Values the chart must reject, through values.schema.json or a template's fail.

package charts_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRejectedValues(t *testing.T) {
	const schemaError = "values don't meet the specifications of the schema"
	cases := []struct {
		name   string
		values func(t *testing.T) string
		args   []string
		// wantErr are substrings of the error: what failed and the offending key.
		wantErr []string
	}{
		{
			name:    "An unknown top-level key fails the install.",
			values:  func(*testing.T) string { return "replicas: 3\n" },
			wantErr: []string{schemaError, "'replicas' not allowed"},
		},
		{
			name:    "The typo appmanager.rbac.additionalNamespace fails the install.",
			values:  func(*testing.T) string { return "appmanager:\n  rbac:\n    additionalNamespace: [staging]\n" },
			wantErr: []string{schemaError, "/appmanager/rbac", "'additionalNamespace' not allowed"},
		},
		{
			name:    "A number in additionalNamespaces fails the install.",
			values:  func(*testing.T) string { return "appmanager:\n  rbac:\n    additionalNamespaces: [staging, 42]\n" },
			wantErr: []string{schemaError, "/appmanager/rbac/additionalNamespaces/1", "want string"},
		},
		{
			name:    "A namespace that is not a DNS label fails the install.",
			values:  func(*testing.T) string { return "appmanager:\n  rbac:\n    additionalNamespaces: [Staging_1]\n" },
			wantErr: []string{schemaError, "/appmanager/rbac/additionalNamespaces/0"},
		},
		{
			name:    "A namespace listed twice fails the install.",
			values:  func(*testing.T) string { return "appmanager:\n  rbac:\n    additionalNamespaces: [staging, staging]\n" },
			wantErr: []string{schemaError, "/appmanager/rbac/additionalNamespaces"},
		},
		{
			name:    "The typo flinkOperator.enable fails the install.",
			values:  func(*testing.T) string { return "flinkOperator:\n  enable: true\n" },
			wantErr: []string{schemaError, "/flinkOperator", "'enable' not allowed"},
		},
		{
			name:    "A flinkOperator.serviceAccount that is not a ServiceAccount name fails the install.",
			values:  func(*testing.T) string { return "flinkOperator:\n  serviceAccount: Flink_Jobs\n" },
			wantErr: []string{schemaError, "/flinkOperator/serviceAccount"},
		},
		{
			name:    "A flinkOperator.allowedServiceAccounts entry that is not a ServiceAccount name fails the install.",
			values:  func(*testing.T) string { return "flinkOperator:\n  allowedServiceAccounts: [fraud-jobs, Admin_SA]\n" },
			wantErr: []string{schemaError, "/flinkOperator/allowedServiceAccounts/1"},
		},
		{
			name:    "An empty flinkOperator.serviceAccount fails the install.",
			values:  func(*testing.T) string { return "flinkOperator:\n  serviceAccount: \"\"\n" },
			wantErr: []string{schemaError, "/flinkOperator/serviceAccount"},
		},
		{
			name:    "tls.mode=bogus fails the install.",
			values:  func(*testing.T) string { return "tls:\n  mode: bogus\n" },
			wantErr: []string{schemaError, "/tls/mode"},
		},
		{
			name:    "webhook.timeoutSeconds=60 fails the install.",
			values:  func(*testing.T) string { return "webhook:\n  timeoutSeconds: 60\n" },
			wantErr: []string{schemaError, "/webhook/timeoutSeconds", "want 30"},
		},
		{
			name:    "webhook.timeoutSeconds=0 fails the install.",
			values:  func(*testing.T) string { return "webhook:\n  timeoutSeconds: 0\n" },
			wantErr: []string{schemaError, "/webhook/timeoutSeconds", "want 1"},
		},
		{
			name: "secret mode without tls.secretName fails the install.",
			values: func(t *testing.T) string {
				ca, err := testCABundle()
				if err != nil {
					t.Fatal(err)
				}
				return "tls:\n  mode: secret\n  caBundle: " + ca + "\n"
			},
			wantErr: []string{schemaError, "/tls/secretName"},
		},
		{
			name:    "secret mode without tls.caBundle fails the install.",
			values:  func(*testing.T) string { return "tls:\n  mode: secret\n  secretName: my-tls\n" },
			wantErr: []string{schemaError, "/tls/caBundle"},
		},
		{
			name: "secret mode with a caBundle that is not a PEM certificate fails the install.",
			values: func(*testing.T) string {
				return "tls:\n  mode: secret\n  secretName: my-tls\n  caBundle: " + base64.StdEncoding.EncodeToString([]byte("not a certificate")) + "\n"
			},
			wantErr: []string{"tls.caBundle must be the base64 encoding of a PEM CA certificate"},
		},
		{
			name:    "An http webhook.url fails the install (the API server calls webhooks over TLS only).",
			values:  func(*testing.T) string { return "webhook:\n  url: http://127.0.0.1:9443\n" },
			wantErr: []string{schemaError, "/webhook/url"},
		},
		{
			name:    "A webhook.url with a query fails the install.",
			values:  func(*testing.T) string { return "webhook:\n  url: https://127.0.0.1:9443/?a=b\n" },
			wantErr: []string{schemaError, "/webhook/url"},
		},
		{
			name:    "An unknown rbacPreflight mode fails the install.",
			values:  func(*testing.T) string { return "rbacPreflight: strict\n" },
			wantErr: []string{schemaError, "/rbacPreflight"},
		},
		{
			name:    "An unknown key deep under tls fails the install.",
			values:  func(*testing.T) string { return "tls:\n  helm:\n    validity: 10\n" },
			wantErr: []string{schemaError, "/tls/helm", "'validity' not allowed"},
		},
		{
			name:    "A wrong type deep under metrics fails the install.",
			values:  func(*testing.T) string { return "metrics:\n  serviceMonitor:\n    enabled: \"yes\"\n" },
			wantErr: []string{schemaError, "/metrics/serviceMonitor/enabled", "want boolean"},
		},
		{
			name:    "A string replicaCount fails the install.",
			values:  func(*testing.T) string { return "replicaCount: \"2\"\n" },
			wantErr: []string{schemaError, "/replicaCount"},
		},
		{
			name:    "A Kubernetes version older than 1.30 is refused.",
			values:  noValues,
			args:    []string{"--kube-version", "1.29.9"},
			wantErr: []string{"kubeVersion", "1.29.9"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values(t), tc.args...)
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
