//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// The mechanics of TestChartOnTheLocalControlPlane: setting up its suite,
// installing, running flinkgate as the chart's ServiceAccount and waiting
// for the chart's webhooks.

// startChartSuite prepares the chart test on the shared control plane: its
// namespaces, the chart's path and the port its webhook.url will name.
func startChartSuite(t *testing.T) *chartSuite {
	t.Helper()
	e := sharedEnv(t)
	chart, err := filepath.Abs(filepath.Join("..", "charts", "flinkgate"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	namespaces := map[string]map[string]string{
		chartNS: nil, laterAdded: nil, unlisted: nil,
		restrictedNS: {
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}
	for _, ns := range listed {
		namespaces[ns] = nil
	}
	for ns, labels := range namespaces {
		// The listed namespaces are the shared environment's target
		// namespaces too, so some already exist.
		if err := e.c.CreateNamespace(ctx, ns, labels); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	s := &chartSuite{
		suite:   &suite{c: e.c, binary: e.binary, ns: chartNS},
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
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	secret, err := s.c.Client().CoreV1().Secrets(chartNS).Get(ctx, chartTLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get the chart's TLS Secret: %v", err)
	}
	return secret
}

// webhookConfigs returns the clientConfig of the single webhook of each of
// the chart's webhook configurations.
func (s *chartSuite) webhookConfigs(t *testing.T) (mutate, validate admissionregistrationv1.WebhookClientConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
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
		PlatformNamespace: chartNS,
		Namespaces:        []string{chartNS},
		WebhookPort:       s.port,
		ExtraArgs:         []string{"--rbac-preflight=" + string(mode), "--platform-service-account=" + chartFullname, settle},
	})
	if err != nil {
		t.Fatalf("start flinkgate as %s with --rbac-preflight=%s: %v", chartWebhookSA, mode, err)
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
			Name: "chart-webhook-probe", Namespace: chartNS,
			Labels: map[string]string{resource.LabelKind: "Bogus"},
		},
		Data: map[string]string{resource.DataKey: "kind: Bogus\nspec: {}\n"},
	}
	const mutateDenial = `admission webhook "mutate.flinkgate.io" denied the request`
	waitUntil(t, waitFor, "the chart's mutating webhook to deny a ConfigMap of kind Bogus", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := s.c.Client().CoreV1().ConfigMaps(chartNS).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, "the probe was admitted"
		}
		return strings.Contains(err.Error(), mutateDenial), err.Error()
	})

	const missing = "no-such-namespace"
	target := s.targetManifest("chart-validate-probe", targetDoc(missing))
	wantProblem := fmt.Sprintf("namespace %q does not exist", missing)
	waitUntil(t, waitFor, "the chart's validating webhook to run the RBAC preflight", func() (bool, string) {
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

// awaitGranted waits until the API server's authorizer grants the chart's
// ServiceAccount every required permission in ns.
func (s *chartSuite) awaitGranted(t *testing.T, ns string) {
	t.Helper()
	waitUntil(t, waitFor, fmt.Sprintf("RBAC to grant %s every required permission in %s", chartSA, ns), func() (bool, string) {
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
