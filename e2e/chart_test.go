//go:build e2e

// This file is one test of about 330 lines on purpose: install, upgrade and
// uninstall are one release's lifecycle, and each step checks what the
// previous one left (the certificate kept across the upgrade, the objects
// the uninstall removes). Its mechanics and checks are in chart_suite_test.go
// and chart_checks_test.go.

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

const (
	// chartNS is the release namespace. It is not platformNS, whose
	// ConfigMaps the shared flinkgate serves: the chart's webhooks select
	// their own namespace only, so the two never see each other's objects.
	chartNS      = "chart-platform"
	chartRelease = "fg"
	// chartFullname is what _helpers.tpl makes of the release name: "fg" does
	// not contain the chart name, so <release>-flinkgate. It names the
	// ServiceAccount, the TLS Secret and both webhook configurations.
	chartFullname  = chartRelease + "-flinkgate"
	chartTLSSecret = chartFullname + "-tls"
	// chartSA is the chart's platform ServiceAccount as the API server
	// names it: the appmanager Roles bind it and the preflight asks about it.
	chartSA = "system:serviceaccount:" + chartNS + ":" + chartFullname
	// chartWebhookSA is the chart's webhook ServiceAccount, which flinkgate
	// runs as.
	chartWebhookName = chartFullname + "-webhook"
	chartWebhookSA   = "system:serviceaccount:" + chartNS + ":" + chartWebhookName

	// Namespaces of the chart test besides the listed ones (below), which
	// are in appmanager.rbac.additionalNamespaces from the install on:
	// laterAdded is added by the upgrade, unlisted never.
	laterAdded   = "later-added"
	unlisted     = "unlisted"
	restrictedNS = "restricted"

	// canIWorkers bounds concurrent kubectl processes on a two-core machine.
	canIWorkers = 8
)

var listed = []string{"staging", "production"}

// chartSuite is the chart installed in url mode on the shared control plane,
// in chartNS, with flinkgate running locally as the chart's ServiceAccount.
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
		args := append([]string{"install", chartRelease, s.chart, "-n", chartNS}, values(listed...)...)
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

	t.Run("the webhook's ServiceAccount may not create pods or read secrets in any target namespace", func(t *testing.T) {
		s.wantWebhookCannot(t, append(slices.Clone(listed), laterAdded, unlisted, chartNS))
	})

	step("flinkgate running as the chart's ServiceAccount syncs its caches and serves the chart's webhooks", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		token, err := s.c.ServiceAccountToken(ctx, chartNS, chartWebhookName, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.kubeconfig, err = s.c.KubeconfigFor(token); err != nil {
			t.Fatal(err)
		}
		// The token must really be the chart's ServiceAccount, or a
		// successful start proves nothing about the chart's RBAC.
		if got := whoAmI(t, s.kubeconfig); got != chartWebhookSA {
			t.Fatalf("the TokenRequest token authenticates as %q, want %q", got, chartWebhookSA)
		}
		// StartFlinkgate returns once /readyz passes, which needs the
		// caches synced with nothing but the chart's least-privilege RBAC.
		s.startFlinkgate(t, rbac.ModeEnforce)
	})

	t.Run("a target for a listed namespace is admitted", func(t *testing.T) {
		for _, ns := range listed {
			t.Run(ns, func(t *testing.T) {
				_, errOut := s.mustKubectl(t, s.targetManifest(ns, targetDoc(ns)), "apply", "-f", "-")
				if strings.Contains(errOut, "Warning:") {
					t.Errorf("admitting target %q warned; want no warning:\n%s", ns, errOut)
				}
				cm := s.get(t, ns)
				if cm.Immutable == nil || !*cm.Immutable {
					t.Errorf("target %q is stored mutable; want immutable: true", ns)
				}
				if got := cm.Metadata.Annotations[resource.AnnotationNamespace]; got != ns {
					t.Errorf("target %q has %s=%q, want %q", ns, resource.AnnotationNamespace, got, ns)
				}
			})
		}
	})

	t.Run("flinkgate's caches, watching as the chart's ServiceAccount, follow targets and deployments created after it started", func(t *testing.T) {
		s.mustKubectl(t, s.deploymentManifest("chart-job", "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"), "apply", "-f", "-")
		targets := `flinkgate_deployment_targets`
		jobs := fmt.Sprintf(`flinkgate_deployments{namespace=%q,target="staging"}`, chartNS)
		want := map[string]string{targets: strconv.Itoa(len(listed)), jobs: "1"}
		waitUntil(t, waitFor, fmt.Sprintf("flinkgate's /metrics to count from its caches %v", want), func() (bool, string) {
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
		waitUntil(t, waitFor, fmt.Sprintf("the audit log to show a successful watch of configmaps in %s by %s", chartNS, chartWebhookSA), func() (bool, string) {
			events := s.auditEvents(t, chartWebhookSA)
			var refused []string
			watched := false
			for _, e := range events {
				if e.ResponseStatus.Code == http.StatusForbidden {
					refused = append(refused, fmt.Sprintf("%s %s in %q", e.Verb, e.ObjectRef.Resource, e.ObjectRef.Namespace))
				}
				if e.Verb == "watch" && e.ObjectRef.Namespace == chartNS && e.ResponseStatus.Code == http.StatusOK {
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
		msg := s.deniedByValidation(t, s.targetManifest(laterAdded, targetDoc(laterAdded)), "apply", "-f", "-")
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
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
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
				_, errOut, _ := s.kubectl(t, s.targetManifest(ns, targetDoc(ns)), "create", "--dry-run=server", "-f", "-")
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
		args := append([]string{"upgrade", chartRelease, s.chart, "-n", chartNS}, values(append(slices.Clone(listed), laterAdded)...)...)
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
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if _, err := s.c.Client().RbacV1().Roles(laterAdded).Get(ctx, chartFullname+"-appmanager", metav1.GetOptions{}); err != nil {
			t.Errorf("after helm upgrade, Role %s/%s-appmanager: %v; want it created", laterAdded, chartFullname, err)
		}
	})

	t.Run("after helm upgrade lists the namespace, the denied target is admitted on the next try", func(t *testing.T) {
		// The API server's RBAC authorizer learns of the new Role from an
		// informer; wait until it grants everything. flinkgate may still
		// answer from its preflight's refusal of the denied try above, which
		// it remembers for rbac.DefaultRefusedTTL: within that plus a second,
		// the target must be admitted.
		s.awaitGranted(t, laterAdded)
		refusedTTL := rbac.DefaultRefusedTTL
		var errOut string
		admitted, last := poll(refusedTTL+time.Second, func() (bool, string) {
			var err error
			_, errOut, err = s.kubectl(t, s.targetManifest(laterAdded, targetDoc(laterAdded)), "apply", "-f", "-")
			return err == nil, errOut
		})
		if !admitted {
			t.Fatalf("target %q was still denied %s after the API server granted the platform's rights: %s", laterAdded, refusedTTL+time.Second, last)
		}
		if strings.Contains(errOut, "Warning:") {
			t.Errorf("admitting target %q warned; want no warning:\n%s", laterAdded, errOut)
		}
		if cm := s.get(t, laterAdded); cm.Metadata.Annotations[resource.AnnotationNamespace] != laterAdded {
			t.Errorf("target %q stored with annotations %v; want %s=%s", laterAdded, cm.Metadata.Annotations, resource.AnnotationNamespace, laterAdded)
		}
	})

	t.Run("after helm upgrade a target for a namespace still not listed is still denied", func(t *testing.T) {
		msg := s.deniedByValidation(t, s.targetManifest(unlisted, targetDoc(unlisted)), "apply", "-f", "-")
		if want := `add "unlisted" to appmanager.rbac.additionalNamespaces and run helm upgrade`; !strings.Contains(msg, want) {
			t.Errorf("the denial lacks %q:\n%s", want, msg)
		}
		s.wantAbsent(t, unlisted)
	})

	t.Run("with --rbac-preflight=warn a target for a namespace not listed is admitted with a warning", func(t *testing.T) {
		s.startFlinkgate(t, rbac.ModeWarn)
		_, errOut := s.mustKubectl(t, s.targetManifest(unlisted, targetDoc(unlisted)), "apply", "-f", "-")
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
		s.denied(t, "", "chart-job", "-n", chartNS, "delete", "configmap", "staging")
	})

	step("helm uninstall removes every object the chart created", func(t *testing.T) {
		manifest, _ := s.helm(t, "get", "manifest", chartRelease, "-n", chartNS)
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
		records := []string{"-n", chartNS, "get", "secrets", "-l", "owner=helm,name=" + chartRelease, "-o", "name"}
		if out, _ := s.mustKubectl(t, "", records...); len(nonEmptyLines(out)) == 0 {
			t.Fatalf("before helm uninstall kubectl %s finds no release records", strings.Join(records, " "))
		}

		s.helm(t, "uninstall", chartRelease, "-n", chartNS)

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
		// which docs/operations.md says how to remove once flinkgate is gone.
		s.mustKubectl(t, "", "-n", chartNS, "delete", "configmap", "staging", "--wait=false")
		out, _ := s.mustKubectl(t, "", "-n", chartNS, "get", "configmap", "staging", "-o", "jsonpath={.metadata.deletionTimestamp} {.metadata.finalizers}")
		if !strings.Contains(out, "flinkgate.io/in-use-protection") {
			t.Fatalf("the deleted target is not held by flinkgate's finalizer: %q", out)
		}
		s.mustKubectl(t, "", "-n", chartNS, "patch", "configmap", "staging", "--type=json",
			"-p", `[{"op":"test","path":"/metadata/finalizers/0","value":"flinkgate.io/in-use-protection"},{"op":"remove","path":"/metadata/finalizers/0"}]`)
		s.wantAbsent(t, "staging")
	})
}
