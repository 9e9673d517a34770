// Shared helpers of the chart tests: running the pinned helm, rendering with
// values, decoding the rendered objects and the table runner. Tests of other
// concerns live in their own files and call these by their stable names.

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
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/testenv"
)

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
	bin := testenv.Tool(t, helmTool())
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

// renderCase is one rendering of the chart and what must hold of it.
type renderCase struct {
	name   string
	values func(t *testing.T) string
	check  func(t *testing.T, m manifest)
}

// runRenderCases renders each case's values and runs its check as a subtest
// named by the case, so that `go test -run 'TestX/name'` runs one case alone.
func runRenderCases(t *testing.T, cases []renderCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustRender(t, tc.values(t)))
		})
	}
}

// noValues is the values function of a case that renders the defaults.
func noValues(*testing.T) string { return "" }

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
