//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/resource"
)

// The admission tests of SPEC section 2, through the API server with kubectl.
// Each test creates its own targets and deployments (see name), so each runs
// alone.

// The seed's target is stored immutable with its namespace annotated.
func TestTheSeedsTargetIsStoredImmutableWithItsNamespaceAnnotated(t *testing.T) {
	s := admissionSuite(t)
	cm := s.get(t, s.seedTarget(t))
	if cm.Immutable == nil || !*cm.Immutable {
		t.Errorf("target is not immutable")
	}
	if got := cm.Metadata.Annotations[resource.AnnotationNamespace]; got != "staging" {
		t.Errorf("%s = %q, want staging", resource.AnnotationNamespace, got)
	}
}

// A YAML deployment without flinkConfiguration is patched, labelled and annotated.
func TestAYAMLDeploymentWithoutFlinkConfigurationIsPatchedLabelledAndAnnotated(t *testing.T) {
	s := admissionSuite(t)
	target, job := s.seedTarget(t), name("top-speed-windowing")
	s.apply(t, s.exampleDeployment(t, job, target))
	cm := s.get(t, job)
	doc := cm.Data[resource.DataKey]
	for _, want := range []string{"flinkConfiguration:", "state.checkpoints.dir: s3://my-bucket/checkpoints", "state.savepoints.dir: s3://my-bucket/savepoints"} {
		if !strings.Contains(doc, want) {
			t.Errorf("patched document lacks %q:\n%s", want, doc)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(doc), "{") {
		t.Errorf("a YAML document came back as JSON:\n%s", doc)
	}
	if got := cm.Metadata.Labels[resource.LabelDeploymentTarget]; got != target {
		t.Errorf("%s = %q, want %s", resource.LabelDeploymentTarget, got, target)
	}
	if got := cm.Metadata.Annotations[resource.AnnotationTargetNamespace]; got != "staging" {
		t.Errorf("%s = %q, want staging", resource.AnnotationTargetNamespace, got)
	}
}

// A JSON deployment is patched and stays JSON.
func TestAJSONDeploymentIsPatchedAndStaysJSON(t *testing.T) {
	s := admissionSuite(t)
	target, job := s.seedTarget(t), name("json-job")
	doc := fmt.Sprintf(`{"kind":"Deployment","spec":{"deploymentTargetName":%q,"template":{"spec":{"flinkConfiguration":{"taskmanager.numberOfTaskSlots":"2"}}}}}`, target)
	s.apply(t, s.deploymentManifest(job, doc))
	got := s.get(t, job).Data[resource.DataKey]
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil {
		t.Fatalf("patched JSON document is not JSON: %v\n%s", err, got)
	}
	if !strings.Contains(got, `"state.checkpoints.dir":"s3://my-bucket/checkpoints"`) || !strings.Contains(got, `"taskmanager.numberOfTaskSlots":"2"`) {
		t.Errorf("JSON document not patched as expected: %s", got)
	}
}

// Re-applying an unchanged deployment keeps it patched once.
func TestReapplyingAnUnchangedDeploymentKeepsItPatchedOnce(t *testing.T) {
	s := admissionSuite(t)
	target, job := s.seedTarget(t), name("top-speed-windowing")
	manifest := s.exampleDeployment(t, job, target)
	s.apply(t, manifest)
	before := s.get(t, job).Data[resource.DataKey]
	s.apply(t, manifest)
	if after := s.get(t, job).Data[resource.DataKey]; after != before {
		t.Errorf("re-apply changed the document:\n%s\nto\n%s", before, after)
	}
}

// A change to the target's spec is denied as immutable.
func TestAChangeToTheTargetsSpecIsDeniedAsImmutable(t *testing.T) {
	s := admissionSuite(t)
	target := s.seedTarget(t)
	changed := s.example(t, "deployment-target.yaml", target, func(doc string) string {
		return strings.Replace(doc, "namespace: staging", "namespace: production", 1)
	})
	s.denied(t, changed, "targets are immutable", "apply", "-f", "-")
}

// A label change on the target is allowed.
func TestALabelChangeOnTheTargetIsAllowed(t *testing.T) {
	s := admissionSuite(t)
	target := s.seedTarget(t)
	s.mustKubectl(t, "", "-n", s.ns, "label", "configmap", target, "team=data")
	if got := s.get(t, target).Metadata.Labels["team"]; got != "data" {
		t.Errorf("label team = %q, want data", got)
	}
}

// Deleting a referenced target is denied, naming the deployment.
func TestDeletingAReferencedTargetIsDeniedNamingTheDeployment(t *testing.T) {
	s := admissionSuite(t)
	target, job := s.seedTarget(t), name("top-speed-windowing")
	s.apply(t, s.exampleDeployment(t, job, target))
	s.denied(t, "", job, "-n", s.ns, "delete", "configmap", target)
}

// A deployment of a missing target is denied.
func TestADeploymentOfAMissingTargetIsDenied(t *testing.T) {
	s := admissionSuite(t)
	missing := name("nowhere")
	doc := "kind: Deployment\nspec:\n  deploymentTargetName: " + missing + "\n"
	s.denied(t, s.deploymentManifest(name("lost"), doc), fmt.Sprintf("%q, which does not exist", missing), "apply", "-f", "-")
}

// A server-side dry run shows the patched document and stores nothing.
func TestAServerSideDryRunShowsThePatchedDocumentAndStoresNothing(t *testing.T) {
	s := admissionSuite(t)
	target, dry := s.seedTarget(t), name("dry")
	doc := "kind: Deployment\nspec:\n  deploymentTargetName: " + target + "\n"
	out, _ := s.mustKubectl(t, s.deploymentManifest(dry, doc), "create", "--dry-run=server", "-o", "yaml", "-f", "-")
	if !strings.Contains(out, "state.checkpoints.dir: s3://my-bucket/checkpoints") || !strings.Contains(out, resource.LabelDeploymentTarget+": "+target) {
		t.Errorf("dry run output lacks the patch:\n%s", out)
	}
	s.wantAbsent(t, dry)
}

// Warnings appear in kubectl's output.
func TestWarningsAppearInKubectlsOutput(t *testing.T) {
	s := admissionSuite(t)
	local := name("local")
	doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/args/-, value: --verbose}\n"
	errOut := s.apply(t, s.targetManifest(local, doc))
	for _, want := range []string{fmt.Sprintf("Warning: target %q sets no spec.kubernetes.namespace", local), "appends to an array"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("kubectl output lacks warning %q:\n%s", want, errOut)
		}
	}
}

// A misspelled target field is denied, naming it.
func TestAMisspelledTargetFieldIsDeniedNamingIt(t *testing.T) {
	s := admissionSuite(t)
	doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchset: []\n"
	s.denied(t, s.targetManifest(name("typo"), doc), "did you mean spec.deploymentPatchSet", "apply", "-f", "-")
}

// A deployment whose patch fails is denied, naming the operation.
func TestADeploymentWhosePatchFailsIsDeniedNamingTheOperation(t *testing.T) {
	s := admissionSuite(t)
	strict := name("strict")
	doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: remove, path: /spec/template/spec/gone}\n"
	s.apply(t, s.targetManifest(strict, doc))
	s.denied(t, s.deploymentManifest(name("victim"), "kind: Deployment\nspec:\n  deploymentTargetName: "+strict+"\n"),
		"deploymentPatchSet[0] (op remove, path /spec/template/spec/gone)", "apply", "-f", "-")
}

// After deleting its deployments the target can be deleted.
func TestAfterDeletingItsDeploymentsTheTargetCanBeDeleted(t *testing.T) {
	s := admissionSuite(t)
	target, yamlJob, jsonJob := s.seedTarget(t), name("top-speed-windowing"), name("json-job")
	s.apply(t, s.exampleDeployment(t, yamlJob, target))
	s.apply(t, s.deploymentManifest(jsonJob, fmt.Sprintf(`{"kind":"Deployment","spec":{"deploymentTargetName":%q}}`, target)))
	s.mustKubectl(t, "", "-n", s.ns, "delete", "configmap", yamlJob, jsonJob)
	// flinkgate's cache may still hold the deployments for a moment, and a
	// cache that names referrers is believed: the user would retry.
	waitUntil(t, waitFor, "the delete of target "+target+" to be admitted", func() (bool, string) {
		_, errOut, err := s.kubectl(t, "", "-n", s.ns, "delete", "configmap", target)
		return err == nil, errOut
	})
	s.wantAbsent(t, target)
}

// Metrics count the decisions.
func TestMetricsCountTheDecisions(t *testing.T) {
	s := admissionSuite(t)
	// One decision of each counted kind, so the test does not depend on others.
	target, job := s.seedTarget(t), name("top-speed-windowing")
	s.apply(t, s.exampleDeployment(t, job, target))
	s.denied(t, "", job, "-n", s.ns, "delete", "configmap", target)
	s.denied(t, s.example(t, "deployment-target.yaml", target, func(doc string) string {
		return strings.Replace(doc, "namespace: staging", "namespace: production", 1)
	}), "targets are immutable", "apply", "-f", "-")

	body := httpGet(t, s.fg.MetricsURL()+"/metrics")
	for _, want := range []string{
		`flinkgate_admission_denials_total{kind="DeploymentTarget",operation="DELETE",reason="referenced"}`,
		`flinkgate_admission_denials_total{kind="DeploymentTarget",operation="UPDATE",reason="immutable"}`,
		`flinkgate_admission_requests_total{kind="Deployment",operation="CREATE",result="allowed",webhook="mutate"}`,
		`flinkgate_tls_certificate_expiry_timestamp_seconds`,
		`flinkgate_deployment_targets`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A rotated serving certificate is served without a restart. The test
// rotates the certificate of a flinkgate of its own, so the shared one keeps
// the certificate the other tests' webhooks trust.
func TestARotatedServingCertificateIsServedWithoutARestart(t *testing.T) {
	s := ownFlinkgate(t, "rotation")
	pid := s.fg.Pid()
	next, err := certs.Generate([]string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Trust both CAs first, as a real rotation would, then swap the files.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bundle := append(append([]byte{}, s.fg.CABundle()...), next.CACert...)
	if err := s.c.RegisterWebhooksNamed(ctx, s.ns, s.fg.WebhookURL(), bundle, []string{s.ns}); err != nil {
		t.Fatal(err)
	}
	if err := next.WriteFiles(s.fg.CertDir()); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(next.CACert)
	addr := strings.TrimPrefix(s.fg.WebhookURL(), "https://")
	waitUntil(t, waitFor, "the new certificate to be served", func() (bool, string) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	})
	if s.fg.Pid() != pid {
		t.Errorf("flinkgate restarted (pid %d, was %d)", s.fg.Pid(), pid)
	}
	doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	s.apply(t, s.targetManifest(name("after-rotation"), doc))
}

// flinkgate without the watch permission is not ready, and says why.
func TestFlinkgateWithoutTheWatchPermissionIsNotReadyAndSaysWhy(t *testing.T) {
	s := admissionSuite(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	account := name("half-blind")
	rbacYAML := strings.NewReplacer("NAMESPACE", s.ns, "NAME", account).Replace(`apiVersion: v1
kind: ServiceAccount
metadata: {name: NAME, namespace: NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: NAME, namespace: NAMESPACE}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: NAME, namespace: NAMESPACE}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: NAME}
subjects: [{kind: ServiceAccount, name: NAME, namespace: NAMESPACE}]
`)
	s.apply(t, rbacYAML)
	token, err := s.c.ServiceAccountToken(ctx, s.ns, account, 0)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := s.c.KubeconfigFor(token)
	if err != nil {
		t.Fatal(err)
	}
	startCtx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	fg, err := s.c.StartFlinkgate(startCtx, cluster.FlinkgateOptions{
		Binary: s.binary, Kubeconfig: kubeconfig, PlatformNamespace: s.ns, Namespaces: []string{s.ns},
		ExtraArgs: []string{"--rbac-preflight=off"},
	})
	if err == nil {
		fg.Stop()
		t.Fatal("flinkgate became ready although it may not watch ConfigMaps")
	}
	if !strings.Contains(err.Error(), "refuses to let flinkgate list or watch") {
		t.Errorf("readiness failed without naming the refused watch: %v", err)
	}
}

// Decisions reach the API server's audit log.
func TestDecisionsReachTheAPIServersAuditLog(t *testing.T) {
	s := admissionSuite(t)
	if s.c.AuditLog == "" {
		t.Skip("the control plane writes no audit log")
	}
	target, job := s.seedTarget(t), name("top-speed-windowing")
	s.apply(t, s.exampleDeployment(t, job, target))
	s.denied(t, "", job, "-n", s.ns, "delete", "configmap", target)
	annotation := `"validate.flinkgate.io/reason":"referenced"`
	object := fmt.Sprintf(`"name":%q`, target)
	waitUntil(t, waitFor, "the audit log to record flinkgate's annotation "+annotation+" on "+target, func() (bool, string) {
		b, err := os.ReadFile(s.c.AuditLog)
		if err != nil {
			return false, err.Error()
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, annotation) && strings.Contains(line, object) {
				return true, ""
			}
		}
		return false, "no such event yet"
	})
}

// ownFlinkgate starts a flinkgate of the test's own, serving a fresh
// namespace under webhooks of its own, for tests that change a flinkgate.
func ownFlinkgate(t *testing.T, base string, extraArgs ...string) *suite {
	t.Helper()
	return ownFlinkgateWithEnv(t, base, nil, append([]string{"--rbac-preflight=off", settle}, extraArgs...)...)
}

// ownFlinkgateWithEnv is ownFlinkgate with exactly args and with env (NAME
// to value) set for this flinkgate alone.
func ownFlinkgateWithEnv(t *testing.T, base string, env map[string]string, args ...string) *suite {
	t.Helper()
	e := sharedEnv(t)
	ns := name(base)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	// A child takes the environment when it starts, and the control plane
	// is already running, so only this flinkgate sees env.
	for k, v := range env {
		os.Setenv(k, v)
	}
	fg, err := e.c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: e.binary, PlatformNamespace: ns, Namespaces: []string{ns}, ExtraArgs: args,
	})
	for k := range env {
		os.Unsetenv(k)
	}
	if err != nil {
		t.Fatalf("start flinkgate for %s: %v", ns, err)
	}
	logOnFailure(t, fg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Webhooks first: failurePolicy Fail would refuse the namespace's
		// ConfigMaps while they point at a stopped flinkgate.
		if err := e.c.UnregisterWebhooks(ctx, ns); err != nil {
			t.Errorf("unregister webhooks %s: %v", ns, err)
		}
		fg.Stop()
	})
	if err := e.c.RegisterWebhooksNamed(ctx, ns, fg.WebhookURL(), fg.CABundle(), []string{ns}); err != nil {
		t.Fatalf("register webhooks for %s: %v", ns, err)
	}
	return &suite{c: e.c, fg: fg, binary: e.binary, ns: ns}
}
