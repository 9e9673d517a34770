//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/e2e/cluster"
	"flinkgate.io/flinkgate/e2e/testenv"
	"flinkgate.io/flinkgate/rbac"
)

const (
	chartRelease = "fg"
	// chartFullname is what _helpers.tpl makes of the release name: "fg" does
	// not contain the chart name, so <release>-flinkgate. It names the
	// ServiceAccount, the TLS Secret and both webhook configurations.
	chartFullname  = chartRelease + "-flinkgate"
	chartTLSSecret = chartFullname + "-tls"
	// chartSA is the chart's ServiceAccount as the API server names it.
	chartSA = "system:serviceaccount:" + platformNS + ":" + chartFullname

	// Namespaces of the chart test besides the listed ones (below), which
	// are in appmanager.rbac.additionalNamespaces from the install on:
	// laterAdded is added by the upgrade, unlisted never.
	laterAdded   = "later-added"
	unlisted     = "unlisted"
	restrictedNS = "restricted"

	// chartWait bounds every wait for something to take effect.
	chartWait = 30 * time.Second
	// canIWorkers bounds concurrent kubectl processes on a two-core machine.
	canIWorkers = 8
)

var listed = []string{"staging", "production"}

// chartSuite is one control plane with the chart installed in url mode and
// flinkgate running locally as the chart's ServiceAccount.
type chartSuite struct {
	*suite
	chart      string // absolute path of charts/flinkgate
	port       int    // the webhook port the chart's webhook.url names
	certDir    string // the chart's serving certificate, written from its Secret
	kubeconfig string // authenticates as the chart's ServiceAccount
	fgLogs     []string

	// What the install created, to compare after the upgrade.
	secret             *corev1.Secret
	mutatingCABundle   []byte
	validatingCABundle []byte
}

// TestChartOnTheLocalControlPlane installs the chart in url mode, runs
// flinkgate locally as the chart's ServiceAccount and checks the chart's RBAC,
// TLS, upgrade, uninstall and Pod Security behaviour, and the RBAC preflight
// against the chart's real Roles (SPEC sections 3 and 5).
func TestChartOnTheLocalControlPlane(t *testing.T) {
	began := time.Now()
	t.Cleanup(func() {
		t.Logf("TestChartOnTheLocalControlPlane took %s", time.Since(began).Round(100*time.Millisecond))
	})
	s := startChartSuite(t)

	values := func(namespaces ...string) []string {
		return []string{
			"--set", "webhook.url=https://127.0.0.1:" + strconv.Itoa(s.port),
			"--set", "appmanager.rbac.additionalNamespaces={" + strings.Join(namespaces, ",") + "}",
		}
	}

	// The subtests build on each other; a failed step that later ones need
	// ends the test instead of producing confusing follow-up failures.
	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("helm install in url mode registers both webhooks at the URL with the CA of the chart's certificate", func(t *testing.T) {
		args := append([]string{"install", chartRelease, s.chart, "-n", platformNS}, values(listed...)...)
		s.helm(t, args...)
		s.secret = s.tlsSecret(t)
		for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if len(s.secret.Data[key]) == 0 {
				t.Fatalf("Secret %s has no %s; keys: %v", chartTLSSecret, key, slices.Sorted(maps.Keys(s.secret.Data)))
			}
		}
		verifyServingCert(t, s.secret.Data["tls.crt"], s.secret.Data["ca.crt"], "127.0.0.1")

		mutate, validate := s.webhookConfigs(t)
		for _, w := range []struct {
			kind, path string
			config     admissionregistrationv1.WebhookClientConfig
		}{
			{"MutatingWebhookConfiguration", "/mutate", mutate},
			{"ValidatingWebhookConfiguration", "/validate", validate},
		} {
			if got, want := derefString(w.config.URL), fmt.Sprintf("https://127.0.0.1:%d%s", s.port, w.path); got != want {
				t.Errorf("%s %s calls %q, want %q", w.kind, chartFullname, got, want)
			}
			if !bytes.Equal(w.config.CABundle, s.secret.Data["ca.crt"]) {
				t.Errorf("%s %s caBundle differs from the Secret's ca.crt:\n%s\nwant\n%s", w.kind, chartFullname, w.config.CABundle, s.secret.Data["ca.crt"])
			}
		}
		s.mutatingCABundle = mutate.CABundle
		s.validatingCABundle = validate.CABundle
		s.writeCerts(t)
	})

	t.Run("kubectl auth can-i as the chart's ServiceAccount says yes to every required permission in each listed namespace", func(t *testing.T) {
		var checks []canICheck
		for _, ns := range listed {
			for _, p := range requiredKubectlPermissions(t) {
				checks = append(checks, canICheck{ns: ns, verb: p.verb, resource: p.resource})
			}
		}
		s.wantCanI(t, checks, true)
	})

	t.Run("kubectl auth can-i as the chart's ServiceAccount says no to every required permission in a namespace not listed", func(t *testing.T) {
		var checks []canICheck
		for _, p := range requiredKubectlPermissions(t) {
			checks = append(checks, canICheck{ns: unlisted, verb: p.verb, resource: p.resource})
		}
		s.wantCanI(t, checks, false)
	})

	step("flinkgate running as the chart's ServiceAccount syncs its caches and serves the chart's webhooks", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		token, err := s.c.ServiceAccountToken(ctx, platformNS, chartFullname, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.kubeconfig, err = s.c.KubeconfigFor(token); err != nil {
			t.Fatal(err)
		}
		// The token must really be the chart's ServiceAccount, or a
		// successful start proves nothing about the chart's RBAC.
		if got := whoAmI(t, s.kubeconfig); got != chartSA {
			t.Fatalf("the TokenRequest token authenticates as %q, want %q", got, chartSA)
		}
		// StartFlinkgate returns once /readyz passes, which needs the
		// caches synced with nothing but the chart's least-privilege RBAC.
		s.startFlinkgate(t, rbac.ModeEnforce)
	})

	t.Run("a target for a listed namespace is admitted", func(t *testing.T) {
		for _, ns := range listed {
			t.Run(ns, func(t *testing.T) {
				_, errOut := s.mustKubectl(t, targetManifest(ns, targetDoc(ns)), "apply", "-f", "-")
				if strings.Contains(errOut, "Warning:") {
					t.Errorf("admitting target %q warned; want no warning:\n%s", ns, errOut)
				}
				cm := s.get(t, ns)
				if cm.Immutable == nil || !*cm.Immutable {
					t.Errorf("target %q is stored mutable; want immutable: true", ns)
				}
				if got := cm.Metadata.Annotations["flinkgate.io/namespace"]; got != ns {
					t.Errorf("target %q has flinkgate.io/namespace=%q, want %q", ns, got, ns)
				}
			})
		}
	})

	t.Run("flinkgate's caches, watching as the chart's ServiceAccount, follow targets and deployments created after it started", func(t *testing.T) {
		s.mustKubectl(t, deploymentManifest("chart-job", "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"), "apply", "-f", "-")
		targets := `flinkgate_deployment_targets`
		jobs := `flinkgate_deployments{namespace="flink-platform",target="staging"}`
		want := map[string]string{targets: strconv.Itoa(len(listed)), jobs: "1"}
		eventually(t, fmt.Sprintf("flinkgate's /metrics to count from its caches %v", want), func() (bool, string) {
			got := metricSamples(httpGet(t, s.fg.MetricsURL()+"/metrics"))
			for series, value := range want {
				if got[series] != value {
					return false, fmt.Sprintf("%s = %q, want %q", series, got[series], value)
				}
			}
			return true, ""
		})
	})

	t.Run("flinkgate watches ConfigMaps as the chart's ServiceAccount and is never refused", func(t *testing.T) {
		// /readyz only says each informer listed once, and an informer
		// refused its watch keeps re-listing, so the counts above would
		// still come right: only the API server's audit log shows the
		// watch. It records ConfigMap requests only.
		eventually(t, fmt.Sprintf("the audit log to show a successful watch of configmaps in %s by %s", platformNS, chartSA), func() (bool, string) {
			events := s.auditEvents(t, chartSA)
			var refused []string
			watched := false
			for _, e := range events {
				if e.ResponseStatus.Code == http.StatusForbidden {
					refused = append(refused, fmt.Sprintf("%s %s in %q", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Namespace))
				}
				if e.Verb == "watch" && e.ObjectRef.Namespace == platformNS && e.ResponseStatus.Code == http.StatusOK {
					watched = true
				}
			}
			if len(refused) > 0 {
				slices.Sort(refused)
				t.Fatalf("the API server refused the chart's ServiceAccount: %v", slices.Compact(refused))
			}
			return watched, fmt.Sprintf("%d audit events by the ServiceAccount, none a successful watch", len(events))
		})
	})

	t.Run("a target for a namespace not listed is denied with the helm remedy in the message", func(t *testing.T) {
		msg := s.deniedByValidation(t, targetManifest(laterAdded, targetDoc(laterAdded)), "apply", "-f", "-")
		t.Logf("denial: %s", msg)
		for _, want := range []string{
			`target "later-added" cannot be served`,
			`lacks permissions to manage Flink clusters in namespace "later-added"`,
			`add "later-added" to appmanager.rbac.additionalNamespaces and run helm upgrade`,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("the denial lacks %q:\n%s", want, msg)
			}
		}
		s.wantAbsent(t, laterAdded)
	})

	t.Run("concurrent target creations for several unlisted namespaces each get a full access check", func(t *testing.T) {
		// Each check issues ~80 access reviews at once; a client-side rate
		// limit in flinkgate would turn these into "could not check" errors.
		ctx, cancel := context.WithTimeout(context.Background(), chartWait)
		defer cancel()
		names := []string{"burst-1", "burst-2", "burst-3", "burst-4", "burst-5"}
		for _, ns := range names {
			if err := s.c.CreateNamespace(ctx, ns, nil); err != nil {
				t.Fatal(err)
			}
		}
		msgs := make([]string, len(names))
		var wg sync.WaitGroup
		for i, ns := range names {
			wg.Go(func() {
				_, errOut, _ := s.kubectl(t, targetManifest(ns, targetDoc(ns)), "create", "--dry-run=server", "-f", "-")
				msgs[i] = errOut
			})
		}
		wg.Wait()
		for i, ns := range names {
			want := fmt.Sprintf(`lacks permissions to manage Flink clusters in namespace %q`, ns)
			if !strings.Contains(msgs[i], want) {
				t.Errorf("target for %s: got %q; want a denial containing %q", ns, msgs[i], want)
			}
		}
	})

	step("helm upgrade adding a namespace keeps the serving certificate and the caBundle", func(t *testing.T) {
		args := append([]string{"upgrade", chartRelease, s.chart, "-n", platformNS}, values(append(slices.Clone(listed), laterAdded)...)...)
		s.helm(t, args...)
		after := s.tlsSecret(t)
		for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
			if !bytes.Equal(after.Data[key], s.secret.Data[key]) {
				t.Errorf("helm upgrade changed %s of Secret %s", key, chartTLSSecret)
			}
		}
		if a, b := after.Annotations["flinkgate.io/tls-sans"], s.secret.Annotations["flinkgate.io/tls-sans"]; a != b {
			t.Errorf("helm upgrade changed annotation flinkgate.io/tls-sans from %q to %q", b, a)
		}
		mutate, validate := s.webhookConfigs(t)
		if !bytes.Equal(mutate.CABundle, s.mutatingCABundle) {
			t.Errorf("helm upgrade changed the MutatingWebhookConfiguration's caBundle")
		}
		if !bytes.Equal(validate.CABundle, s.validatingCABundle) {
			t.Errorf("helm upgrade changed the ValidatingWebhookConfiguration's caBundle")
		}
		// The upgrade must really have changed the release, or "unchanged"
		// proves nothing.
		ctx, cancel := context.WithTimeout(context.Background(), chartWait)
		defer cancel()
		if _, err := s.c.Client().RbacV1().Roles(laterAdded).Get(ctx, chartFullname+"-appmanager", metav1.GetOptions{}); err != nil {
			t.Errorf("after helm upgrade, Role %s/%s-appmanager: %v; want it created", laterAdded, chartFullname, err)
		}
	})

	t.Run("after helm upgrade lists the namespace, the denied target is admitted on the next try", func(t *testing.T) {
		// The API server's RBAC authorizer learns of the new Role from an
		// informer; wait until it grants everything, then one try must do.
		s.awaitGranted(t, laterAdded)
		_, errOut := s.mustKubectl(t, targetManifest(laterAdded, targetDoc(laterAdded)), "apply", "-f", "-")
		if strings.Contains(errOut, "Warning:") {
			t.Errorf("admitting target %q warned; want no warning:\n%s", laterAdded, errOut)
		}
		if cm := s.get(t, laterAdded); cm.Metadata.Annotations["flinkgate.io/namespace"] != laterAdded {
			t.Errorf("target %q stored with annotations %v; want flinkgate.io/namespace=%s", laterAdded, cm.Metadata.Annotations, laterAdded)
		}
	})

	t.Run("after helm upgrade a target for a namespace still not listed is still denied", func(t *testing.T) {
		msg := s.deniedByValidation(t, targetManifest(unlisted, targetDoc(unlisted)), "apply", "-f", "-")
		if want := `add "unlisted" to appmanager.rbac.additionalNamespaces and run helm upgrade`; !strings.Contains(msg, want) {
			t.Errorf("the denial lacks %q:\n%s", want, msg)
		}
		s.wantAbsent(t, unlisted)
	})

	t.Run("with --rbac-preflight=warn a target for a namespace not listed is admitted with a warning", func(t *testing.T) {
		s.startFlinkgate(t, rbac.ModeWarn)
		_, errOut := s.mustKubectl(t, targetManifest(unlisted, targetDoc(unlisted)), "apply", "-f", "-")
		warning := ""
		for line := range strings.Lines(errOut) {
			if strings.HasPrefix(line, "Warning:") {
				warning += line
			}
		}
		t.Logf("kubectl stderr: %s", strings.TrimSpace(errOut))
		for _, want := range []string{
			`Warning: the platform's ServiceAccount lacks permissions to manage Flink clusters in namespace "unlisted"`,
			`add "unlisted" to appmanager.rbac.additionalNamespaces and run helm upgrade`,
		} {
			if !strings.Contains(warning, want) {
				t.Errorf("kubectl's warnings lack %q:\n%s", want, errOut)
			}
		}
		if cm := s.get(t, unlisted); cm.Immutable == nil || !*cm.Immutable {
			t.Errorf("target %q is stored mutable; want it admitted by flinkgate with immutable: true", unlisted)
		}
	})

	t.Run("the rendered Deployment draws no Pod Security warning in a restricted namespace", func(t *testing.T) {
		deployment := s.renderDeployment(t, values)
		_, errOut := s.mustKubectl(t, deployment, "apply", "--dry-run=server", "-n", restrictedNS, "-f", "-")
		if strings.Contains(errOut, "Warning") {
			t.Errorf("the chart's Deployment drew a warning in namespace %s (pod-security enforce=restricted, warn=restricted):\n%s", restrictedNS, errOut)
		}
	})

	t.Run("a Deployment that allows privilege escalation does draw a Pod Security warning there", func(t *testing.T) {
		// The check above could not fail if Pod Security were not active.
		deployment := s.renderDeployment(t, values)
		worse := strings.Replace(deployment, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", 1)
		if worse == deployment {
			t.Fatalf("the rendered Deployment has no allowPrivilegeEscalation: false to flip:\n%s", deployment)
		}
		_, errOut := s.mustKubectl(t, worse, "apply", "--dry-run=server", "-n", restrictedNS, "-f", "-")
		if want := `would violate PodSecurity "restricted:`; !strings.Contains(errOut, "Warning:") || !strings.Contains(errOut, want) {
			t.Errorf("kubectl stderr %q lacks a warning containing %q", errOut, want)
		}
	})

	t.Run("while the chart is installed, deleting a referenced target is denied", func(t *testing.T) {
		s.denied(t, "", "chart-job", "-n", platformNS, "delete", "configmap", "staging")
	})

	step("helm uninstall removes every object the chart created", func(t *testing.T) {
		manifest, _ := s.helm(t, "get", "manifest", chartRelease, "-n", platformNS)
		objects := parseObjects(t, manifest)
		for _, want := range wantChartObjects() {
			if !slices.Contains(objects, want) {
				t.Errorf("the release's manifest lacks %s; it has %v", want, objects)
			}
		}
		// Positive controls: while installed, kubectl finds every object
		// of the manifest and the release's records, so the empty answers
		// below mean "deleted".
		out, _ := s.mustKubectl(t, manifest, "get", "-f", "-", "-o", "name")
		if got := nonEmptyLines(out); len(got) != len(objects) {
			t.Fatalf("before helm uninstall kubectl finds %d of the manifest's %d objects:\n%s", len(got), len(objects), out)
		}
		records := []string{"-n", platformNS, "get", "secrets", "-l", "owner=helm,name=" + chartRelease, "-o", "name"}
		if out, _ := s.mustKubectl(t, "", records...); len(nonEmptyLines(out)) == 0 {
			t.Fatalf("before helm uninstall kubectl %s finds no release records", strings.Join(records, " "))
		}

		s.helm(t, "uninstall", chartRelease, "-n", platformNS)

		out, _ = s.mustKubectl(t, manifest, "get", "-f", "-", "-o", "name", "--ignore-not-found")
		if left := nonEmptyLines(out); len(left) > 0 {
			t.Errorf("after helm uninstall these objects of the chart remain: %v", left)
		}
		out, _ = s.mustKubectl(t, "", records...)
		if left := nonEmptyLines(out); len(left) > 0 {
			t.Errorf("after helm uninstall the release's records remain: %v", left)
		}
		t.Logf("helm uninstall removed all %d objects: %v", len(objects), objects)
	})

	t.Run("after helm uninstall the webhooks are gone, so the referenced target can be deleted once its finalizer is removed by hand", func(t *testing.T) {
		// flinkgate still runs and would deny this delete (see above); it
		// is accepted only because the API server no longer calls it. The
		// target then waits on flinkgate's in-use-protection finalizer,
		// which the README says how to remove once flinkgate is gone.
		s.mustKubectl(t, "", "-n", platformNS, "delete", "configmap", "staging", "--wait=false")
		out, _ := s.mustKubectl(t, "", "-n", platformNS, "get", "configmap", "staging", "-o", "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}")
		if !strings.Contains(out, "flinkgate.io/in-use-protection") {
			t.Fatalf("the deleted target is not held by flinkgate's finalizer: %q", out)
		}
		s.mustKubectl(t, "", "-n", platformNS, "patch", "configmap", "staging", "--type=json",
			"-p", `[{"op":"test","path":"/metadata/finalizers/0","value":"flinkgate.io/in-use-protection"},{"op":"remove","path":"/metadata/finalizers/0"}]`)
		s.wantAbsent(t, "staging")
	})
}

func startChartSuite(t *testing.T) *chartSuite {
	t.Helper()
	bin := testenv.ToolsBin(t)
	chart, err := filepath.Abs(filepath.Join("..", "charts", "flinkgate"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// Compile flinkgate while the control plane starts.
	var (
		c        *cluster.Cluster
		startErr error
		started  = make(chan struct{})
	)
	go func() {
		defer close(started)
		c, startErr = cluster.Start(ctx, cluster.Options{BinDir: bin, Log: testWriter{t}})
	}()
	t.Cleanup(func() {
		<-started
		if c != nil {
			c.Stop()
		}
	})
	binary := buildFlinkgate(t)
	<-started
	if startErr != nil {
		t.Fatalf("start control plane: %v", startErr)
	}

	namespaces := map[string]map[string]string{
		platformNS: nil, laterAdded: nil, unlisted: nil,
		restrictedNS: {
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}
	for _, ns := range listed {
		namespaces[ns] = nil
	}
	for ns, labels := range namespaces {
		if err := c.CreateNamespace(ctx, ns, labels); err != nil {
			t.Fatal(err)
		}
	}

	s := &chartSuite{
		suite:   &suite{c: c, binary: binary, toolsBin: bin},
		chart:   chart,
		port:    freeLoopbackPort(t),
		certDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if s.fg != nil {
			s.fg.Stop()
		}
		if t.Failed() {
			for _, path := range s.fgLogs {
				if b, err := os.ReadFile(path); err == nil {
					t.Logf("%s:\n%s", filepath.Base(path), tail(string(b), 40))
				}
			}
		}
	})
	return s
}

// freeLoopbackPort returns a loopback port that was free a moment ago: the
// chart's webhook.url must name the port before flinkgate listens on it.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *chartSuite) helm(t *testing.T, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := s.c.Helm(ctx, args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return out, errOut
}

func (s *chartSuite) tlsSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chartWait)
	defer cancel()
	secret, err := s.c.Client().CoreV1().Secrets(platformNS).Get(ctx, chartTLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the chart's TLS Secret: %v", err)
	}
	return secret
}

// webhookConfigs returns the clientConfig of the single webhook of each of
// the chart's webhook configurations.
func (s *chartSuite) webhookConfigs(t *testing.T) (mutate, validate admissionregistrationv1.WebhookClientConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chartWait)
	defer cancel()
	api := s.c.Client().AdmissionregistrationV1()
	m, err := api.MutatingWebhookConfigurations().Get(ctx, chartFullname, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the chart's MutatingWebhookConfiguration: %v", err)
	}
	v, err := api.ValidatingWebhookConfigurations().Get(ctx, chartFullname, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the chart's ValidatingWebhookConfiguration: %v", err)
	}
	if len(m.Webhooks) != 1 || len(v.Webhooks) != 1 {
		t.Fatalf("the chart registered %d mutating and %d validating webhooks, want one each", len(m.Webhooks), len(v.Webhooks))
	}
	return m.Webhooks[0].ClientConfig, v.Webhooks[0].ClientConfig
}

// writeCerts writes the chart's serving certificate from its Secret into
// s.certDir, as the install notes tell users to.
func (s *chartSuite) writeCerts(t *testing.T) {
	t.Helper()
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(s.certDir, key), s.secret.Data[key], 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// startFlinkgate (re)starts flinkgate as the chart's ServiceAccount on the
// port of the chart's webhook.url with the chart's certificate, and returns
// once the chart's webhooks call it.
func (s *chartSuite) startFlinkgate(t *testing.T, mode rbac.Mode) {
	t.Helper()
	if s.fg != nil {
		s.fg.Stop()
		s.fg = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fg, err := s.c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary:            s.binary,
		CertDir:           s.certDir,
		Kubeconfig:        s.kubeconfig,
		PlatformNamespace: platformNS,
		Namespaces:        []string{platformNS},
		WebhookPort:       s.port,
		ExtraArgs:         []string{"--rbac-preflight=" + string(mode)},
	})
	if err != nil {
		t.Fatalf("start flinkgate as %s with --rbac-preflight=%s: %v", chartSA, mode, err)
	}
	s.fg = fg
	s.fgLogs = append(s.fgLogs, fg.LogPath())
	s.awaitWebhooks(t, mode)
}

// awaitWebhooks waits until the API server calls both of the chart's webhooks
// and they reach this flinkgate. The mutating webhook runs first, so only a
// denial naming it proves it; the validating webhook alone runs the RBAC
// preflight, so its verdict on a target for a missing namespace proves it.
func (s *chartSuite) awaitWebhooks(t *testing.T, mode rbac.Mode) {
	t.Helper()
	probe := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "chart-webhook-probe", Namespace: platformNS,
			Labels: map[string]string{"flinkgate.io/kind": "Bogus"},
		},
		Data: map[string]string{"resource.yaml": "kind: Bogus\nspec: {}\n"},
	}
	const mutateDenial = `admission webhook "mutate.flinkgate.io" denied the request`
	eventually(t, "the chart's mutating webhook to deny a ConfigMap of kind Bogus", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := s.c.Client().CoreV1().ConfigMaps(platformNS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, "the probe was admitted"
		}
		return strings.Contains(err.Error(), mutateDenial), err.Error()
	})

	const missing = "no-such-namespace"
	target := targetManifest("chart-validate-probe", targetDoc(missing))
	wantProblem := fmt.Sprintf("namespace %q does not exist", missing)
	eventually(t, "the chart's validating webhook to run the RBAC preflight", func() (bool, string) {
		_, errOut, err := s.kubectl(t, target, "create", "--dry-run=server", "-f", "-")
		switch mode {
		case rbac.ModeWarn:
			return err == nil && strings.Contains(errOut, "Warning: "+wantProblem), fmt.Sprintf("err %v, stderr %q", err, errOut)
		default:
			return err != nil && strings.Contains(errOut, `admission webhook "validate.flinkgate.io" denied the request`) &&
				strings.Contains(errOut, wantProblem), fmt.Sprintf("err %v, stderr %q", err, errOut)
		}
	})
}

// eventually polls cond until it holds or chartWait passes; cond says why not.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(chartWait)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last: %s", chartWait, what, why)
		}
		pollPause()
	}
}

// awaitGranted waits until the API server's authorizer grants the chart's
// ServiceAccount every required permission in ns.
func (s *chartSuite) awaitGranted(t *testing.T, ns string) {
	t.Helper()
	eventually(t, fmt.Sprintf("RBAC to grant %s every required permission in %s", chartSA, ns), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		for _, rule := range rbac.RequiredRules() {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					for _, verb := range rule.Verbs {
						review, err := s.c.Client().AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
							Spec: authorizationv1.SubjectAccessReviewSpec{
								User: chartSA,
								ResourceAttributes: &authorizationv1.ResourceAttributes{
									Namespace: ns, Verb: verb, Group: group, Resource: resource,
								},
							},
						}, metav1.CreateOptions{})
						if err != nil {
							return false, err.Error()
						}
						if !review.Status.Allowed {
							return false, fmt.Sprintf("%s %s/%s not allowed yet", verb, group, resource)
						}
					}
				}
			}
		}
		return true, ""
	})
}

// deniedByValidation runs kubectl, expects the validating webhook's denial
// and returns kubectl's message.
func (s *chartSuite) deniedByValidation(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	_, errOut, err := s.kubectl(t, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded; want flinkgate's validating webhook to deny it", strings.Join(args, " "))
	}
	if !strings.Contains(errOut, `admission webhook "validate.flinkgate.io" denied the request`) {
		t.Fatalf("kubectl %s failed with %q; want a denial by validate.flinkgate.io", strings.Join(args, " "), errOut)
	}
	return strings.TrimSpace(errOut)
}

// wantAbsent checks that no ConfigMap name exists in the platform namespace.
func (s *chartSuite) wantAbsent(t *testing.T, name string) {
	t.Helper()
	_, errOut, err := s.kubectl(t, "", "-n", platformNS, "get", "configmap", name)
	if err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("configmap %s/%s: err %v, stderr %q; want NotFound", platformNS, name, err, errOut)
	}
}

// renderDeployment renders the chart's Deployment for the restricted
// namespace with the values of the install.
func (s *chartSuite) renderDeployment(t *testing.T, values func(...string) []string) string {
	t.Helper()
	args := append([]string{"template", chartRelease, s.chart, "-n", restrictedNS, "--show-only", "templates/deployment.yaml"}, values(listed...)...)
	out, _ := s.helm(t, args...)
	if !strings.Contains(out, "kind: Deployment") || !strings.Contains(out, "namespace: "+restrictedNS) {
		t.Fatalf("helm template rendered no Deployment in namespace %s:\n%s", restrictedNS, out)
	}
	return out
}

func targetDoc(namespace string) string {
	return fmt.Sprintf("kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: %s\n", namespace)
}

// kubectlPermission is one verb on one resource as kubectl names it:
// "deployments.apps", or "pods" in the core group.
type kubectlPermission struct{ verb, resource string }

// requiredKubectlPermissions expands rbac.RequiredRules, SPEC section 5's
// list, into single permissions.
func requiredKubectlPermissions(t *testing.T) []kubectlPermission {
	t.Helper()
	var perms []kubectlPermission
	for _, rule := range rbac.RequiredRules() {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				if group != "" {
					resource += "." + group
				}
				for _, verb := range rule.Verbs {
					perms = append(perms, kubectlPermission{verb: verb, resource: resource})
				}
			}
		}
	}
	if len(perms) == 0 {
		t.Fatal("rbac.RequiredRules() lists no permissions")
	}
	return perms
}

type canICheck struct{ ns, verb, resource string }

func (c canICheck) String() string { return fmt.Sprintf("%s %s -n %s", c.verb, c.resource, c.ns) }

// wantCanI runs `kubectl auth can-i` as the chart's ServiceAccount for every
// check, canIWorkers at a time, and fails with every check whose answer is
// not want. A "yes" is retried until a shared deadline, because the API
// server's authorizer learns of new Roles from an informer; a "no" is final.
func (s *chartSuite) wantCanI(t *testing.T, checks []canICheck, want bool) {
	t.Helper()
	deadline := time.Now().Add(chartWait)
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
		jobs     = make(chan canICheck)
	)
	for range canIWorkers {
		wg.Go(func() {
			for c := range jobs {
				var (
					got bool
					err error
				)
				for {
					got, err = s.canI(c)
					if err != nil || got == want || !want || time.Now().After(deadline) {
						break
					}
					pollPause()
				}
				if err != nil || got != want {
					msg := fmt.Sprintf("can-i %s: %s", c, yesNo(got))
					if err != nil {
						msg = fmt.Sprintf("can-i %s: %v", c, err)
					}
					mu.Lock()
					failures = append(failures, msg)
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range checks {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	slices.Sort(failures)
	if len(failures) > 0 {
		t.Errorf("want %s for all %d checks as %s; %d differ:\n%s", yesNo(want), len(checks), chartSA, len(failures), strings.Join(failures, "\n"))
	} else {
		t.Logf("kubectl auth can-i --as=%s answered %s to all %d checks", chartSA, yesNo(want), len(checks))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// canI asks kubectl. kubectl answers "yes" (exit 0) or "no" (exit 1) on
// stdout; anything else, or anything on stderr (such as "the server doesn't
// have a resource type"), is an error rather than a "no".
func (s *chartSuite) canI(c canICheck) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := s.c.Kubectl(ctx, "auth", "can-i", c.verb, c.resource, "-n", c.ns, "--as="+chartSA)
	answer := strings.TrimSpace(out)
	var exit *exec.ExitError
	switch {
	case strings.TrimSpace(errOut) != "":
		return false, fmt.Errorf("stdout %q, stderr %q", answer, strings.TrimSpace(errOut))
	case answer == "yes" && err == nil:
		return true, nil
	case answer == "no" && errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	default:
		return false, fmt.Errorf("stdout %q, err %v; want yes or no", answer, err)
	}
}

// whoAmI returns the user a kubeconfig authenticates as.
func whoAmI(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), chartWait)
	defer cancel()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with %s: %v", kubeconfig, err)
	}
	return review.Status.UserInfo.Username
}

// verifyServingCert checks that crtPEM is valid for host under caPEM.
func verifyServingCert(t *testing.T, crtPEM, caPEM []byte, host string) {
	t.Helper()
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatalf("tls.crt is not PEM:\n%s", crtPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse tls.crt: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt holds no PEM certificate:\n%s", caPEM)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the chart's certificate does not serve %s under its ca.crt: %v", host, err)
	}
}

// chartObject identifies one object of a release.
type chartObject struct{ kind, namespace, name string }

func (o chartObject) String() string {
	if o.namespace == "" {
		return o.kind + "/" + o.name
	}
	return o.kind + "/" + o.namespace + "/" + o.name
}

// parseObjects lists the objects of a multi-document manifest.
func parseObjects(t *testing.T, manifest string) []chartObject {
	t.Helper()
	var objects []chartObject
	for doc := range strings.SplitSeq(manifest, "\n---") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("parse the release's manifest: %v\n%s", err, doc)
		}
		if obj.Kind == "" {
			continue // an empty document
		}
		objects = append(objects, chartObject{obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name})
	}
	if len(objects) == 0 {
		t.Fatalf("the release's manifest has no objects:\n%s", manifest)
	}
	return objects
}

// wantChartObjects are objects the release must contain (SPEC section 5),
// so that the uninstall check covers them.
func wantChartObjects() []chartObject {
	objects := []chartObject{
		{"MutatingWebhookConfiguration", "", chartFullname},
		{"ValidatingWebhookConfiguration", "", chartFullname},
		{"ClusterRole", "", chartFullname + "-webhook"},
		{"ClusterRoleBinding", "", chartFullname + "-webhook"},
		{"Role", platformNS, chartFullname + "-webhook"},
		{"RoleBinding", platformNS, chartFullname + "-webhook"},
		{"ServiceAccount", platformNS, chartFullname},
		{"Secret", platformNS, chartTLSSecret},
		{"Deployment", platformNS, chartFullname},
		{"Service", platformNS, chartFullname},
	}
	for _, ns := range append(slices.Clone(listed), laterAdded) {
		objects = append(objects,
			chartObject{"Role", ns, chartFullname + "-appmanager"},
			chartObject{"RoleBinding", ns, chartFullname + "-appmanager"})
	}
	return objects
}

// auditEvent is what the test reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// auditEvents returns the API server's audit events of user's requests.
func (s *chartSuite) auditEvents(t *testing.T, user string) []auditEvent {
	t.Helper()
	b, err := os.ReadFile(s.c.AuditLog)
	if err != nil {
		t.Fatalf("read the API server's audit log: %v", err)
	}
	var events []auditEvent
	for line := range strings.Lines(string(b)) {
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // the last line may be half written
		}
		if e.User.Username == user {
			events = append(events, e)
		}
	}
	return events
}

// metricSamples maps each series of a Prometheus text exposition to its
// value, e.g. `flinkgate_deployment_targets` to "2".
func metricSamples(body string) map[string]string {
	samples := map[string]string{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			samples[line[:i]] = line[i+1:]
		}
	}
	return samples
}

func nonEmptyLines(s string) []string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
