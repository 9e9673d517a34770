package charts_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/e2e/testenv"
	"flinkgate.io/flinkgate/rbac"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current chart")

const (
	chartDir  = "flinkgate"
	release   = "flinkgate"
	namespace = "flink-platform"
	fullname  = "flinkgate" // the release name contains the chart name
	// The oldest Kubernetes the chart supports, so the renders exercise it.
	kubeVersion = "1.30.0"
	tlsSecret   = fullname + "-tls"
)

// watchChart reads every file of the chart in this process. helm reads them in
// a subprocess, which `go test` cannot see, so without this an edited chart
// would be answered from the test cache.
var watchChart = sync.OnceValue(func() error {
	return filepath.WalkDir(chartDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
})

// runHelm runs the pinned helm with its own empty home and kubeconfig, so the
// developer's repositories, plugins and clusters cannot change the result.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testenv.Tool(t, "helm")
	if err := watchChart(); err != nil {
		t.Fatalf("read the chart: %v", err)
	}
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELM_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valuesFile writes a values document for one case. Not under t.TempDir():
// that path contains the test name, and helm splits --values at commas.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flinkgate-chart-values")
	if err != nil {
		t.Fatalf("create values dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatalf("write values: %v", err)
	}
	return path
}

// render runs `helm template` the way an install would see the chart.
func render(t *testing.T, values string, extraArgs ...string) (string, error) {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace,
		"--kube-version", kubeVersion, "--values", valuesFile(t, values)}
	return runHelm(t, append(args, extraArgs...)...)
}

func mustRender(t *testing.T, values string) manifest {
	t.Helper()
	out, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return parseManifest(t, out)
}

// object is one rendered document.
type object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Doc        []byte
}

type manifest []object

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func parseManifest(t *testing.T, out string) manifest {
	t.Helper()
	var m manifest
	seen := map[string]bool{}
	for _, doc := range docSeparator.Split(out, -1) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" { // only comments
			continue
		}
		key := head.Kind + "/" + head.Metadata.Namespace + "/" + head.Metadata.Name
		if seen[key] {
			t.Errorf("%s is rendered twice; the install would fail", key)
		}
		seen[key] = true
		m = append(m, object{head.APIVersion, head.Kind, head.Metadata.Namespace, head.Metadata.Name, []byte(doc)})
	}
	return m
}

func (m manifest) ofKind(kind string) []object {
	var out []object
	for _, o := range m {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m manifest) has(kind, ns, name string) bool {
	for _, o := range m {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return true
		}
	}
	return false
}

// get finds one object and decodes it strictly, so a misspelt field in a
// template fails the test instead of being dropped.
func get[T any](t *testing.T, m manifest, kind, ns, name string) *T {
	t.Helper()
	for _, o := range m {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return decode[T](t, o)
		}
	}
	t.Fatalf("%s %s/%s is not rendered", kind, ns, name)
	return nil
}

func decode[T any](t *testing.T, o object) *T {
	t.Helper()
	v := new(T)
	if err := yaml.UnmarshalStrict(o.Doc, v); err != nil {
		t.Fatalf("%s %s/%s does not decode strictly: %v", o.Kind, o.Namespace, o.Name, err)
	}
	return v
}

// untyped decodes objects of CRDs whose Go types are not dependencies.
func untyped(t *testing.T, m manifest, kind, ns, name string) map[string]any {
	t.Helper()
	return *get[map[string]any](t, m, kind, ns, name)
}

func field(t *testing.T, obj map[string]any, path ...string) any {
	t.Helper()
	var cur any = obj
	for _, p := range path {
		next, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %v is not an object", strings.Join(path, "."), cur)
		}
		cur = next[p]
	}
	return cur
}

// testCABundle is a real CA certificate for secret mode, as base64 PEM.
var testCABundle = sync.OnceValues(func() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test-ca"},
		NotBefore:             time.Now(),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("create certificate: %w", err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
})

func secretModeValues(t *testing.T) string {
	t.Helper()
	ca, err := testCABundle()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("tls:\n  mode: secret\n  secretName: my-webhook-tls\n  caBundle: %s\n", ca)
}

const (
	additionalNamespacesValues = `
appmanager:
  rbac:
    additionalNamespaces: [staging, production]
`
	certManagerValues = "tls:\n  mode: certManager\n"
	urlValues         = "webhook:\n  url: https://127.0.0.1:9443/\n"
)

// --- helm lint ----------------------------------------------------------------

func TestLintIsClean(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
	}{
		{"The default values lint clean in strict mode.", func(*testing.T) string { return "" }},
		{"tls.mode=certManager lints clean in strict mode.", func(*testing.T) string { return certManagerValues }},
		{"tls.mode=secret lints clean in strict mode.", secretModeValues},
		{"webhook.url mode lints clean in strict mode.", func(*testing.T) string { return urlValues }},
		{"Additional namespaces and a ServiceMonitor lint clean in strict mode.", func(*testing.T) string {
			return additionalNamespacesValues + "metrics:\n  serviceMonitor:\n    enabled: true\n"
		}},
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

// --- golden renders -------------------------------------------------------------

// pemMaterial matches certificates and keys, raw or base64-encoded (base64 of
// "-----BEGIN" starts with "LS0tLS1CRUdJTi"): helm mode generates them anew on
// every render, so golden files hold a placeholder instead.
var pemMaterial = regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/=]*|-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----`)

func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		name   string
		golden string
		values func(t *testing.T) string
	}{
		{"The default values render the webhook for the release namespace with Helm-generated TLS.", "defaults.yaml",
			func(*testing.T) string { return "" }},
		{"additionalNamespaces={staging,production} adds a Role and RoleBinding in each.", "additional-namespaces.yaml",
			func(*testing.T) string { return additionalNamespacesValues }},
		{"tls.mode=certManager renders a CA chain and the serving Certificate instead of a Secret.", "cert-manager.yaml",
			func(*testing.T) string { return certManagerValues }},
		{"tls.mode=secret mounts the given Secret and renders no certificate material.", "secret.yaml", secretModeValues},
		{"webhook.url registers the webhooks at the URL instead of the Service.", "url.yaml",
			func(*testing.T) string { return urlValues }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.values(t))
			if err != nil {
				t.Fatal(err)
			}
			got := pemMaterial.ReplaceAllString(out, "REDACTED-PEM")
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatalf("update golden: %v", err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run `go test ./charts -update` to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("render differs from %s (run `go test ./charts -update` if the change is intended):\n%s",
					path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to find a golden change.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}

// --- every object -------------------------------------------------------------

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
		{"With the default values every object decodes strictly and is labelled.", func(*testing.T) string { return "" }},
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
		{"In secret mode every object decodes strictly and is labelled.", secretModeValues},
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

// --- targeted behaviour ---------------------------------------------------------

func deployment(t *testing.T, m manifest) *appsv1.Deployment {
	t.Helper()
	return get[appsv1.Deployment](t, m, "Deployment", namespace, fullname)
}

func container(t *testing.T, m manifest) corev1.Container {
	t.Helper()
	d := deployment(t, m)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the pod has %d containers, want 1", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func mutating(t *testing.T, m manifest) admissionregistrationv1.MutatingWebhook {
	t.Helper()
	c := get[admissionregistrationv1.MutatingWebhookConfiguration](t, m, "MutatingWebhookConfiguration", "", fullname)
	if len(c.Webhooks) != 1 {
		t.Fatalf("MutatingWebhookConfiguration has %d webhooks, want 1", len(c.Webhooks))
	}
	return c.Webhooks[0]
}

func validating(t *testing.T, m manifest) admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	c := get[admissionregistrationv1.ValidatingWebhookConfiguration](t, m, "ValidatingWebhookConfiguration", "", fullname)
	if len(c.Webhooks) != 1 {
		t.Fatalf("ValidatingWebhookConfiguration has %d webhooks, want 1", len(c.Webhooks))
	}
	return c.Webhooks[0]
}

// clientConfigs returns both webhooks' client configs, named for messages.
func clientConfigs(t *testing.T, m manifest) map[string]admissionregistrationv1.WebhookClientConfig {
	t.Helper()
	return map[string]admissionregistrationv1.WebhookClientConfig{
		"mutating":   mutating(t, m).ClientConfig,
		"validating": validating(t, m).ClientConfig,
	}
}

func webhookAnnotations(t *testing.T, m manifest) map[string]map[string]string {
	t.Helper()
	return map[string]map[string]string{
		"mutating":   get[admissionregistrationv1.MutatingWebhookConfiguration](t, m, "MutatingWebhookConfiguration", "", fullname).Annotations,
		"validating": get[admissionregistrationv1.ValidatingWebhookConfiguration](t, m, "ValidatingWebhookConfiguration", "", fullname).Annotations,
	}
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

// certChain returns the serving certificate of a Secret and a pool of the CAs in caBundle.
func certChain(t *testing.T, crtPEM, caBundle []byte) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatalf("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse tls.crt: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatalf("caBundle holds no PEM certificate")
	}
	return cert, pool
}

// verifyServes checks that the helm-mode certificate is one the API server
// accepts for host, trusting only the webhooks' caBundle.
func verifyServes(t *testing.T, m manifest, host string) {
	t.Helper()
	s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
	for name, cc := range clientConfigs(t, m) {
		cert, pool := certChain(t, s.Data["tls.crt"], cc.CABundle)
		_, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("%s webhook: the certificate does not serve %s under its caBundle: %v", name, host, err)
		}
	}
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

func TestChartBehaviour(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
		check  func(t *testing.T, m manifest)
	}{
		{
			name:   "The Deployment runs two replicas of flinkgate serve with the SPEC flags.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				d := deployment(t, m)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("replicas %v, want 2", d.Spec.Replicas)
				}
				// The drain (5s) and the in-flight budget (10s) fit the grace period.
				if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
					t.Errorf("terminationGracePeriodSeconds %v, want 30", g)
				}
				c := container(t, m)
				want := []string{"serve",
					"--tls-cert-file=/etc/flinkgate/tls/tls.crt", "--tls-private-key-file=/etc/flinkgate/tls/tls.key",
					"--webhook-addr=:8443", "--metrics-addr=:8080", "--namespaces=" + namespace,
					"--platform-namespace=" + namespace, "--rbac-preflight=enforce", "--log-level=info",
					"--shutdown-drain=5s"}
				if !slices.Equal(c.Args, want) {
					t.Errorf("args %q, want %q", c.Args, want)
				}
				if c.Image != "ghcr.io/flinkgate/flinkgate:"+appVersion(t) {
					t.Errorf("image %s, want the chart's appVersion as tag", c.Image)
				}
			},
		},
		{
			name:   "rbacPreflight and logLevel reach flinkgate serve.",
			values: func(*testing.T) string { return "rbacPreflight: warn\nlogLevel: debug\n" },
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				for _, a := range []string{"--rbac-preflight=warn", "--log-level=debug"} {
					if !slices.Contains(args, a) {
						t.Errorf("args %q lack %s", args, a)
					}
				}
			},
		},
		{
			name:   "image.digest pins the image by digest instead of tag.",
			values: func(*testing.T) string { return "image:\n  digest: sha256:" + strings.Repeat("ab", 32) + "\n" },
			check: func(t *testing.T, m manifest) {
				if got, want := container(t, m).Image, "ghcr.io/flinkgate/flinkgate@sha256:"+strings.Repeat("ab", 32); got != want {
					t.Errorf("image %s, want %s", got, want)
				}
			},
		},
		{
			name:   "The pod passes the restricted Pod Security Standard with a read-only root filesystem.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				for _, v := range restrictedViolations(deployment(t, m).Spec.Template.Spec) {
					t.Error(v)
				}
			},
		},
		{
			name:   "The container requests CPU and memory and has a memory limit.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				r := container(t, m).Resources
				if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
					t.Errorf("resources %+v, want cpu and memory requests and a memory limit", r)
				}
			},
		},
		{
			name:   "Readiness probes /readyz and liveness probes /healthz on the metrics port.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				c := container(t, m)
				for name, p := range map[string]struct {
					probe *corev1.Probe
					path  string
				}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
					if p.probe == nil || p.probe.HTTPGet == nil {
						t.Errorf("%s probe is not an HTTP GET", name)
						continue
					}
					if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
						t.Errorf("%s probe GETs %s on %s, want %s on metrics", name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
					}
				}
				if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 8080 }) {
					t.Errorf("ports %+v lack metrics on 8080, the --metrics-addr port", c.Ports)
				}
			},
		},
		{
			name:   "POD_NAMESPACE comes from the downward API.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				i := slices.IndexFunc(container(t, m).Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" })
				if i < 0 {
					t.Fatal("POD_NAMESPACE is not set")
				}
				e := container(t, m).Env[i]
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
					t.Errorf("POD_NAMESPACE %+v, want fieldRef metadata.namespace", e)
				}
			},
		},
		{
			name:   "The TLS Secret is mounted as a directory, not with subPath, so rotation reaches the process.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				wantTLSMount(t, m, tlsSecret)
			},
		},
		{
			name:   "The PodDisruptionBudget selects the webhook pods and leaves at least one running.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				pdb := get[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", namespace, fullname)
				d := deployment(t, m)
				for k, v := range pdb.Spec.Selector.MatchLabels {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("PDB selects %s=%s, which the pods lack", k, v)
					}
				}
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() >= int(*d.Spec.Replicas) {
					t.Errorf("maxUnavailable %v with %d replicas lets a drain take them all", pdb.Spec.MaxUnavailable, *d.Spec.Replicas)
				}
			},
		},
		{
			name:   "Both webhooks carry the SPEC section 5 settings and reach the Service at /mutate and /validate.",
			values: func(*testing.T) string { return "" },
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
			values: func(*testing.T) string { return "" },
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
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				if r := appmanagerRoles(m); len(r) != 0 {
					t.Errorf("appmanager Roles rendered: %+v", r)
				}
			},
		},
		{
			name:   "The webhook's own RBAC grants only configmap reads, namespace get and self-subject access reviews.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				cr := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-webhook")
				sameRules(t, "ClusterRole", cr.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
					{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews"}, Verbs: []string{"create"}},
				})
				crb := get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook")
				if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != cr.Name {
					t.Errorf("ClusterRoleBinding roleRef %+v", crb.RoleRef)
				}
				wantSubjects(t, "ClusterRoleBinding", crb.Subjects, fullname)
				r := get[rbacv1.Role](t, m, "Role", namespace, fullname+"-webhook")
				sameRules(t, "webhook Role", r.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
				})
				if n := len(m.ofKind("ClusterRole")); n != 1 {
					t.Errorf("%d ClusterRoles, want only the webhook's", n)
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
			name:   "serviceAccount.name is the account the pods run as and every binding's subject.",
			values: func(*testing.T) string { return "serviceAccount:\n  name: vvp-platform\n" + additionalNamespacesValues },
			check: func(t *testing.T, m manifest) {
				if !m.has("ServiceAccount", namespace, "vvp-platform") {
					t.Error("the ServiceAccount vvp-platform is not rendered")
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != "vvp-platform" {
					t.Errorf("serviceAccountName %s", got)
				}
				wantSubjects(t, "RoleBinding staging", get[rbacv1.RoleBinding](t, m, "RoleBinding", "staging", fullname+"-appmanager").Subjects, "vvp-platform")
				wantSubjects(t, "webhook RoleBinding", get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-webhook").Subjects, "vvp-platform")
				wantSubjects(t, "ClusterRoleBinding", get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook").Subjects, "vvp-platform")
			},
		},
		{
			name:   "serviceAccount.create=false renders no ServiceAccount but still runs as and binds the named one.",
			values: func(*testing.T) string { return "serviceAccount:\n  create: false\n  name: existing\n" },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("ServiceAccount")); n != 0 {
					t.Errorf("%d ServiceAccounts rendered", n)
				}
				if got := deployment(t, m).Spec.Template.Spec.ServiceAccountName; got != "existing" {
					t.Errorf("serviceAccountName %s", got)
				}
				wantSubjects(t, "ClusterRoleBinding", get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-webhook").Subjects, "existing")
			},
		},
		{
			name:   "helm mode writes a kubernetes.io/tls Secret <fullname>-tls with tls.crt, tls.key and ca.crt.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				if s.Type != corev1.SecretTypeTLS {
					t.Errorf("type %s, want %s", s.Type, corev1.SecretTypeTLS)
				}
				var keys []string
				for k := range s.Data {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if want := []string{"ca.crt", "tls.crt", "tls.key"}; !slices.Equal(keys, want) {
					t.Errorf("keys %q, want %q", keys, want)
				}
				if _, err := tlsKeyPair(s); err != nil {
					t.Errorf("tls.crt and tls.key do not form a key pair: %v", err)
				}
			},
		},
		{
			name:   "helm mode puts the Secret's CA into both webhooks' caBundle.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				for name, cc := range clientConfigs(t, m) {
					if len(cc.CABundle) == 0 || !bytes.Equal(cc.CABundle, s.Data["ca.crt"]) {
						t.Errorf("%s caBundle %q, want the Secret's ca.crt", name, cc.CABundle)
					}
				}
			},
		},
		{
			name:   "helm mode's certificate serves the Service's DNS name under the caBundle.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, fullname+"."+namespace+".svc")
			},
		},
		{
			name:   "url mode registers both webhooks at <url>/mutate and <url>/validate, without a trailing slash doubling.",
			values: func(*testing.T) string { return urlValues },
			check: func(t *testing.T, m manifest) {
				for name, path := range map[string]string{"mutating": "/mutate", "validating": "/validate"} {
					cc := clientConfigs(t, m)[name]
					if cc.Service != nil || cc.URL == nil || *cc.URL != "https://127.0.0.1:9443"+path {
						t.Errorf("%s clientConfig url %v service %+v, want url https://127.0.0.1:9443%s only", name, cc.URL, cc.Service, path)
					}
					if len(cc.CABundle) == 0 {
						t.Errorf("%s caBundle is empty", name)
					}
				}
			},
		},
		{
			name:   "url mode's certificate covers the URL's IP address as an IP SAN.",
			values: func(*testing.T) string { return urlValues },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "127.0.0.1")
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				cert, _ := certChain(t, s.Data["tls.crt"], s.Data["ca.crt"])
				if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.String() == "127.0.0.1" }) {
					t.Errorf("IP SANs %v lack 127.0.0.1", cert.IPAddresses)
				}
			},
		},
		{
			name:   "url mode with an IPv6 host covers that address.",
			values: func(*testing.T) string { return "webhook:\n  url: https://[::1]:9443\n" },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "::1")
				if u := mutating(t, m).ClientConfig.URL; u == nil || *u != "https://[::1]:9443/mutate" {
					t.Errorf("url %v", u)
				}
			},
		},
		{
			name:   "url mode with a DNS host covers the name and still the Service.",
			values: func(*testing.T) string { return "webhook:\n  url: https://flinkgate.example.com:9443/\n" },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "flinkgate.example.com")
				verifyServes(t, m, fullname+"."+namespace+".svc")
			},
		},
		{
			name:   "certManager mode renders no Secret; the serving Certificate writes the Secret the pods mount.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("Secret")); n != 0 {
					t.Errorf("%d Secrets rendered; cert-manager owns the certificate", n)
				}
				c := untyped(t, m, "Certificate", namespace, fullname+"-tls")
				if got := field(t, c, "spec", "secretName"); got != tlsSecret {
					t.Errorf("Certificate secretName %v, want %s", got, tlsSecret)
				}
				wantTLSMount(t, m, tlsSecret)
			},
		},
		{
			name:   "certManager mode has cert-manager inject the serving Certificate's CA into both webhooks.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				if !m.has("Certificate", namespace, fullname+"-tls") {
					t.Fatal("the serving Certificate is not rendered")
				}
				for name, a := range webhookAnnotations(t, m) {
					if got, want := a["cert-manager.io/inject-ca-from"], namespace+"/"+fullname+"-tls"; got != want {
						t.Errorf("%s inject-ca-from %q, want %q", name, got, want)
					}
				}
				// The cainjector owns caBundle here; rendering one would fight it on every upgrade.
				for name, cc := range clientConfigs(t, m) {
					if len(cc.CABundle) != 0 {
						t.Errorf("%s caBundle is rendered; it must be left to cert-manager", name)
					}
				}
			},
		},
		{
			name:   "certManager mode signs the serving certificate with a chart-owned CA issuer, not self-signed.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				ref := field(t, untyped(t, m, "Certificate", namespace, fullname+"-tls"), "spec", "issuerRef").(map[string]any)
				if ref["name"] != fullname+"-ca" || ref["kind"] != "Issuer" {
					t.Errorf("serving Certificate issuerRef %v, want the Issuer %s-ca", ref, fullname)
				}
				if got := field(t, untyped(t, m, "Issuer", namespace, fullname+"-ca"), "spec", "ca", "secretName"); got != fullname+"-ca" {
					t.Errorf("CA Issuer reads %v", got)
				}
				if got := field(t, untyped(t, m, "Certificate", namespace, fullname+"-ca"), "spec", "isCA"); got != true {
					t.Errorf("CA Certificate isCA %v", got)
				}
			},
		},
		{
			name: "certManager mode with webhook.url covers the URL's IP in the Certificate.",
			values: func(*testing.T) string {
				return certManagerValues + urlValues
			},
			check: func(t *testing.T, m manifest) {
				c := untyped(t, m, "Certificate", namespace, fullname+"-tls")
				if ips, _ := field(t, c, "spec", "ipAddresses").([]any); !slices.Contains(ips, any("127.0.0.1")) {
					t.Errorf("ipAddresses %v lack 127.0.0.1", ips)
				}
				if dns, _ := field(t, c, "spec", "dnsNames").([]any); !slices.Contains(dns, any(fullname+"."+namespace+".svc")) {
					t.Errorf("dnsNames %v lack the Service", dns)
				}
			},
		},
		{
			name: "certManager mode with issuerRef uses that issuer and renders no CA chain.",
			values: func(*testing.T) string {
				return "tls:\n  mode: certManager\n  certManager:\n    issuerRef: {name: corp-ca, kind: ClusterIssuer}\n"
			},
			check: func(t *testing.T, m manifest) {
				ref := field(t, untyped(t, m, "Certificate", namespace, fullname+"-tls"), "spec", "issuerRef").(map[string]any)
				if ref["name"] != "corp-ca" || ref["kind"] != "ClusterIssuer" || ref["group"] != "cert-manager.io" {
					t.Errorf("issuerRef %v", ref)
				}
				if n := len(m.ofKind("Issuer")) + len(m.ofKind("Certificate")); n != 1 {
					t.Errorf("%d cert-manager objects, want only the serving Certificate", n)
				}
			},
		},
		{
			name:   "secret mode mounts tls.secretName, puts tls.caBundle into both webhooks and renders no Secret.",
			values: secretModeValues,
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("Secret")); n != 0 {
					t.Errorf("%d Secrets rendered", n)
				}
				wantTLSMount(t, m, "my-webhook-tls")
				ca, err := testCABundle()
				if err != nil {
					t.Fatal(err)
				}
				for name, cc := range clientConfigs(t, m) {
					if base64.StdEncoding.EncodeToString(cc.CABundle) != ca {
						t.Errorf("%s caBundle is not tls.caBundle", name)
					}
				}
			},
		},
		{
			name: "The ServiceMonitor scrapes /metrics on the Service's metrics port when enabled.",
			values: func(*testing.T) string {
				return "metrics:\n  serviceMonitor:\n    enabled: true\n    labels: {release: prom}\n"
			},
			check: func(t *testing.T, m manifest) {
				sm := untyped(t, m, "ServiceMonitor", namespace, fullname)
				eps, _ := field(t, sm, "spec", "endpoints").([]any)
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" || eps[0].(map[string]any)["path"] != "/metrics" {
					t.Errorf("endpoints %v", eps)
				}
				if field(t, sm, "metadata", "labels").(map[string]any)["release"] != "prom" {
					t.Error("serviceMonitor.labels are not applied")
				}
				svc := get[corev1.Service](t, m, "Service", namespace, fullname)
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
					t.Error("the Service has no metrics port")
				}
				for k, v := range field(t, sm, "spec", "selector", "matchLabels").(map[string]any) {
					if svc.Labels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%v, which the Service lacks", k, v)
					}
				}
			},
		},
		{
			name:   "No ServiceMonitor is rendered by default.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("ServiceMonitor")); n != 0 {
					t.Errorf("%d ServiceMonitors rendered", n)
				}
			},
		},
		{
			name:   "podLabels cannot replace the labels the selectors depend on.",
			values: func(*testing.T) string { return "podLabels:\n  app.kubernetes.io/name: other\n  team: data\n" },
			check: func(t *testing.T, m manifest) {
				d := deployment(t, m)
				for k, v := range d.Spec.Selector.MatchLabels {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("pod label %s=%s, the selector wants %s", k, d.Spec.Template.Labels[k], v)
					}
				}
				if d.Spec.Template.Labels["team"] != "data" {
					t.Error("podLabels are not applied")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustRender(t, tc.values(t)))
		})
	}
}

func appVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil || c.AppVersion == "" {
		t.Fatalf("Chart.yaml has no appVersion: %v", err)
	}
	return c.AppVersion
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

func wantTLSMount(t *testing.T, m manifest, secret string) {
	t.Helper()
	spec := deployment(t, m).Spec.Template.Spec
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
	if i < 0 {
		t.Fatal("no Secret volume")
	}
	vol := spec.Volumes[i]
	if vol.Secret.SecretName != secret {
		t.Errorf("the pods mount the Secret %s, want %s", vol.Secret.SecretName, secret)
	}
	c := container(t, m)
	j := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == vol.Name })
	if j < 0 {
		t.Fatal("the TLS volume is not mounted")
	}
	vm := c.VolumeMounts[j]
	if vm.SubPath != "" || vm.SubPathExpr != "" || vm.MountPath != "/etc/flinkgate/tls" || !vm.ReadOnly {
		t.Errorf("mount %+v, want a read-only directory mount at /etc/flinkgate/tls", vm)
	}
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

func tlsKeyPair(s *corev1.Secret) (*x509.Certificate, error) {
	block, _ := pem.Decode(s.Data["tls.key"])
	if block == nil {
		return nil, errors.New("tls.key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse tls.key: %w", err)
	}
	cb, _ := pem.Decode(s.Data["tls.crt"])
	if cb == nil {
		return nil, errors.New("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse tls.crt: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("tls.key does not belong to tls.crt")
	}
	return cert, nil
}

// --- NOTES.txt ----------------------------------------------------------------------

// notes renders NOTES.txt, which `helm template` leaves out, through a
// client-side dry-run install (no cluster is contacted).
func notes(t *testing.T, values string) string {
	t.Helper()
	out, err := runHelm(t, "install", release, chartDir, "--namespace", namespace, "--dry-run=client",
		"--values", valuesFile(t, values))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(out, "\nNOTES:\n")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	return after
}

func TestNotesSayWhatToDoNext(t *testing.T) {
	cases := []struct {
		name   string
		values string
		want   []string
	}{
		{"By default the notes say to wait for the rollout and to list target namespaces.", "",
			[]string{"rollout status deployment/" + fullname, "denied until you list their namespaces", "appmanager.rbac.additionalNamespaces={staging,production}"}},
		{"With additional namespaces the notes name them and use one in the example target.", additionalNamespacesValues,
			[]string{"may manage Flink clusters in:\n   staging, production.", "namespace: staging"}},
		{"In url mode the notes say how to start flinkgate with the certificate from the TLS Secret.", urlValues,
			[]string{"https://127.0.0.1:9443/mutate", "get secret " + tlsSecret, "--webhook-addr=:9443", "--namespaces=" + namespace}},
		{"In certManager mode the notes say how to check the Certificate and the injected CA.", certManagerValues,
			[]string{"get certificate " + fullname + "-tls", "caBundle"}},
		{"With RBAC turned off the notes say which rules to grant by hand.", "appmanager:\n  rbac:\n    create: false\n",
			[]string{"created no RBAC at all", "rbac.RequiredRules()"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := notes(t, tc.values)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the notes lack %q:\n%s", w, got)
				}
			}
		})
	}
}

// --- the restricted Pod Security Standard ----------------------------------------

// restrictedViolations checks a pod against the restricted Pod Security
// Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
// plus the read-only root filesystem the chart promises.
func restrictedViolations(spec corev1.PodSpec) []string {
	var v []string
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		v = append(v, "the pod shares host namespaces")
	}
	allowedVolumes := func(vol corev1.Volume) bool {
		s := vol.VolumeSource
		return s.ConfigMap != nil || s.CSI != nil || s.DownwardAPI != nil || s.EmptyDir != nil ||
			s.Ephemeral != nil || s.PersistentVolumeClaim != nil || s.Projected != nil || s.Secret != nil
	}
	for _, vol := range spec.Volumes {
		if !allowedVolumes(vol) {
			v = append(v, fmt.Sprintf("volume %s has a type restricted does not allow", vol.Name))
		}
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		v = append(v, "the pod runs as UID 0")
	}
	podNonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	podSeccomp := psc.SeccompProfile != nil && psc.SeccompProfile.Type != corev1.SeccompProfileTypeUnconfined
	if psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined {
		v = append(v, "the pod's seccomp profile is Unconfined")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if sc.Privileged != nil && *sc.Privileged {
			v = append(v, c.Name+" is privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			v = append(v, c.Name+" does not set allowPrivilegeEscalation: false")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			v = append(v, c.Name+" does not drop ALL capabilities")
		}
		if sc.Capabilities != nil {
			for _, add := range sc.Capabilities.Add {
				if add != "NET_BIND_SERVICE" {
					v = append(v, fmt.Sprintf("%s adds the capability %s", c.Name, add))
				}
			}
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) || sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
			v = append(v, c.Name+" may run as root (runAsNonRoot is not true)")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			v = append(v, c.Name+" runs as UID 0")
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeUnconfined ||
			!podSeccomp && sc.SeccompProfile == nil {
			v = append(v, c.Name+" has no RuntimeDefault or Localhost seccomp profile")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				v = append(v, fmt.Sprintf("%s uses the host port %d", c.Name, p.HostPort))
			}
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			v = append(v, c.Name+" has a writable root filesystem")
		}
	}
	return v
}

// The checker above is test code deciding a security property, so it is tested
// too: each case breaks a compliant pod in one way.
func TestRestrictedCheckFindsViolations(t *testing.T) {
	yes, no, root := true, false, int64(0)
	compliant := func() corev1.PodSpec {
		return corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		}
	}
	if v := restrictedViolations(compliant()); len(v) != 0 {
		t.Fatalf("a compliant pod is reported: %q", v)
	}
	cases := []struct {
		name   string
		break_ func(s *corev1.PodSpec)
	}{
		{"A privileged container is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Privileged = &yes }},
		{"Allowing privilege escalation is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }},
		{"Keeping capabilities is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil }},
		{"Adding a capability is reported.", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}},
		{"A pod that may run as root is reported.", func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil }},
		{"A container running as UID 0 is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.RunAsUser = &root }},
		{"A missing seccomp profile is reported.", func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil }},
		{"A hostPath volume is reported.", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}},
		{"Host networking is reported.", func(s *corev1.PodSpec) { s.HostNetwork = true }},
		{"A writable root filesystem is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := compliant()
			tc.break_(&s)
			if v := restrictedViolations(s); len(v) == 0 {
				t.Error("not reported")
			}
		})
	}
}

// --- values the chart must reject -------------------------------------------------

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
			values:  func(*testing.T) string { return "" },
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
