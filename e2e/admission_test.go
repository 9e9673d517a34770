//go:build e2e

// Package e2e drives flinkgate through a real kube-apiserver with kubectl and
// helm as clients.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/e2e/cluster"
	"flinkgate.io/flinkgate/e2e/testenv"
)

const platformNS = "flink-platform"

// suite is one control plane with one flinkgate for the admission tests;
// starting them takes seconds, so tests share them and use distinct names.
type suite struct {
	c        *cluster.Cluster
	fg       *cluster.Flinkgate
	binary   string
	toolsBin string
}

// buildFlinkgate compiles the binary under test once per test binary.
func buildFlinkgate(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "flinkgate")
	cmd := exec.Command("go", "build", "-o", out, "flinkgate.io/flinkgate/cmd/flinkgate")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build flinkgate: %v\n%s", err, b)
	}
	return out
}

func startSuite(t *testing.T, extraArgs ...string) *suite {
	t.Helper()
	bin := testenv.ToolsBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, Log: testWriter{t}})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(c.Stop)
	for _, ns := range []string{platformNS, "staging", "production"} {
		if err := c.CreateNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := &suite{c: c, binary: buildFlinkgate(t), toolsBin: bin}
	fg, err := c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: s.binary, PlatformNamespace: platformNS, Namespaces: []string{platformNS},
		// A short settle time: deleting a target waits for it (see protection_test.go).
		ExtraArgs: append([]string{"--rbac-preflight=off", settle}, extraArgs...),
	})
	if err != nil {
		t.Fatalf("start flinkgate: %v", err)
	}
	t.Cleanup(func() {
		fg.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(fg.LogPath()); err == nil {
				t.Logf("flinkgate log:\n%s", tail(string(b), 40))
			}
		}
	})
	s.fg = fg
	if err := c.RegisterWebhooks(ctx, fg.WebhookURL(), fg.CABundle(), []string{platformNS}); err != nil {
		t.Fatalf("register webhooks: %v", err)
	}
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kubectl runs kubectl and returns stdout, stderr and whether it succeeded.
func (s *suite) kubectl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if stdin != "" {
		return s.c.KubectlInput(ctx, stdin, args...)
	}
	return s.c.Kubectl(ctx, args...)
}

func (s *suite) mustKubectl(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := s.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

func (s *suite) denied(t *testing.T, stdin string, want string, args ...string) {
	t.Helper()
	_, errOut, err := s.kubectl(t, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded; want a denial containing %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(errOut, "flinkgate.io\" denied the request") || !strings.Contains(errOut, want) {
		t.Fatalf("kubectl %s failed with %q; want flinkgate's denial containing %q", strings.Join(args, " "), errOut, want)
	}
}

type configMap struct {
	Metadata struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Immutable *bool             `json:"immutable"`
	Data      map[string]string `json:"data"`
}

func (s *suite) get(t *testing.T, name string) configMap {
	t.Helper()
	out, _ := s.mustKubectl(t, "", "-n", platformNS, "get", "configmap", name, "-o", "json")
	var cm configMap
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatalf("decode configmap %s: %v", name, err)
	}
	return cm
}

func targetManifest(name, doc string) string { return manifest(name, "DeploymentTarget", doc) }

func deploymentManifest(name, doc string) string { return manifest(name, "Deployment", doc) }

// manifest is a flinkgate ConfigMap in the platform namespace.
func manifest(name, kind, doc string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: %s
  labels: {flinkgate.io/kind: %s}
data:
  resource.yaml: %s
`, name, platformNS, kind, quoteYAML(doc))
}

func quoteYAML(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAdmissionThroughTheAPIServer(t *testing.T) {
	s := startSuite(t)

	t.Run("the seed's target is stored immutable with its namespace annotated", func(t *testing.T) {
		s.mustKubectl(t, readExample(t, "deployment-target.yaml"), "apply", "-f", "-")
		cm := s.get(t, "staging")
		if cm.Immutable == nil || !*cm.Immutable {
			t.Errorf("target is not immutable")
		}
		if got := cm.Metadata.Annotations["flinkgate.io/namespace"]; got != "staging" {
			t.Errorf("flinkgate.io/namespace = %q, want staging", got)
		}
	})

	t.Run("a YAML deployment without flinkConfiguration is patched, labelled and annotated", func(t *testing.T) {
		s.mustKubectl(t, readExample(t, "deployment.yaml"), "apply", "-f", "-")
		cm := s.get(t, "top-speed-windowing")
		doc := cm.Data["resource.yaml"]
		for _, want := range []string{"flinkConfiguration:", "state.checkpoints.dir: s3://my-bucket/checkpoints", "state.savepoints.dir: s3://my-bucket/savepoints"} {
			if !strings.Contains(doc, want) {
				t.Errorf("patched document lacks %q:\n%s", want, doc)
			}
		}
		if strings.HasPrefix(strings.TrimSpace(doc), "{") {
			t.Errorf("a YAML document came back as JSON:\n%s", doc)
		}
		if got := cm.Metadata.Labels["flinkgate.io/deployment-target"]; got != "staging" {
			t.Errorf("flinkgate.io/deployment-target = %q, want staging", got)
		}
		if got := cm.Metadata.Annotations["flinkgate.io/target-namespace"]; got != "staging" {
			t.Errorf("flinkgate.io/target-namespace = %q, want staging", got)
		}
	})

	t.Run("a JSON deployment is patched and stays JSON", func(t *testing.T) {
		doc := `{"kind":"Deployment","spec":{"deploymentTargetName":"staging","template":{"spec":{"flinkConfiguration":{"taskmanager.numberOfTaskSlots":"2"}}}}}`
		s.mustKubectl(t, deploymentManifest("json-job", doc), "apply", "-f", "-")
		got := s.get(t, "json-job").Data["resource.yaml"]
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("patched JSON document is not JSON: %v\n%s", err, got)
		}
		if !strings.Contains(got, `"state.checkpoints.dir":"s3://my-bucket/checkpoints"`) || !strings.Contains(got, `"taskmanager.numberOfTaskSlots":"2"`) {
			t.Errorf("JSON document not patched as expected: %s", got)
		}
	})

	t.Run("re-applying an unchanged deployment keeps it patched once", func(t *testing.T) {
		before := s.get(t, "top-speed-windowing").Data["resource.yaml"]
		s.mustKubectl(t, readExample(t, "deployment.yaml"), "apply", "-f", "-")
		if after := s.get(t, "top-speed-windowing").Data["resource.yaml"]; after != before {
			t.Errorf("re-apply changed the document:\n%s\nto\n%s", before, after)
		}
	})

	t.Run("a change to the target's spec is denied as immutable", func(t *testing.T) {
		changed := strings.Replace(readExample(t, "deployment-target.yaml"), "namespace: staging", "namespace: production", 1)
		s.denied(t, changed, "targets are immutable", "apply", "-f", "-")
	})

	t.Run("a label change on the target is allowed", func(t *testing.T) {
		s.mustKubectl(t, "", "-n", platformNS, "label", "configmap", "staging", "team=data")
		if got := s.get(t, "staging").Metadata.Labels["team"]; got != "data" {
			t.Errorf("label team = %q, want data", got)
		}
	})

	t.Run("deleting the referenced target is denied, naming the deployment", func(t *testing.T) {
		s.denied(t, "", "top-speed-windowing", "-n", platformNS, "delete", "configmap", "staging")
	})

	t.Run("a deployment of a missing target is denied", func(t *testing.T) {
		doc := "kind: Deployment\nspec:\n  deploymentTargetName: nowhere\n"
		s.denied(t, deploymentManifest("lost", doc), `"nowhere", which does not exist`, "apply", "-f", "-")
	})

	t.Run("a server-side dry run shows the patched document and stores nothing", func(t *testing.T) {
		doc := "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"
		out, _ := s.mustKubectl(t, deploymentManifest("dry", doc), "create", "--dry-run=server", "-o", "yaml", "-f", "-")
		if !strings.Contains(out, "state.checkpoints.dir: s3://my-bucket/checkpoints") || !strings.Contains(out, "flinkgate.io/deployment-target: staging") {
			t.Errorf("dry run output lacks the patch:\n%s", out)
		}
		_, errOut, err := s.kubectl(t, "", "-n", platformNS, "get", "configmap", "dry")
		if err == nil || !strings.Contains(errOut, "NotFound") {
			t.Errorf("dry run stored the deployment (get: %v %s)", err, errOut)
		}
	})

	t.Run("warnings appear in kubectl's output", func(t *testing.T) {
		doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/args/-, value: --verbose}\n"
		_, errOut := s.mustKubectl(t, targetManifest("local", doc), "apply", "-f", "-")
		for _, want := range []string{"Warning: target \"local\" sets no spec.kubernetes.namespace", "appends to an array"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("kubectl output lacks warning %q:\n%s", want, errOut)
			}
		}
	})

	t.Run("a misspelled target field is denied, naming it", func(t *testing.T) {
		doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchset: []\n"
		s.denied(t, targetManifest("typo", doc), "did you mean spec.deploymentPatchSet", "apply", "-f", "-")
	})

	t.Run("a deployment whose patch fails is denied, naming the operation", func(t *testing.T) {
		doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: remove, path: /spec/template/spec/gone}\n"
		s.mustKubectl(t, targetManifest("strict", doc), "apply", "-f", "-")
		s.denied(t, deploymentManifest("victim", "kind: Deployment\nspec:\n  deploymentTargetName: strict\n"),
			"deploymentPatchSet[0] (op remove, path /spec/template/spec/gone)", "apply", "-f", "-")
	})

	t.Run("after deleting its deployments the target can be deleted", func(t *testing.T) {
		s.mustKubectl(t, "", "-n", platformNS, "delete", "configmap", "top-speed-windowing", "json-job")
		s.mustKubectl(t, "", "-n", platformNS, "delete", "configmap", "staging")
	})

	t.Run("metrics count the decisions", func(t *testing.T) {
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
	})

	t.Run("a rotated serving certificate is served without a restart", func(t *testing.T) {
		pid := s.fg.Pid()
		next, err := certs.Generate([]string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// Trust both CAs first, as a real rotation would, then swap the files.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		bundle := append(append([]byte{}, s.fg.CABundle()...), next.CACert...)
		if err := s.c.RegisterWebhooks(ctx, s.fg.WebhookURL(), bundle, []string{platformNS}); err != nil {
			t.Fatal(err)
		}
		if err := next.WriteFiles(s.fg.CertDir()); err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(next.CACert)
		addr := strings.TrimPrefix(s.fg.WebhookURL(), "https://")
		deadline := time.Now().Add(30 * time.Second)
		for {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the new certificate was not served within 30s: %v", err)
			}
			pollPause()
		}
		if s.fg.Pid() != pid {
			t.Errorf("flinkgate restarted (pid %d, was %d)", s.fg.Pid(), pid)
		}
		doc := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
		s.mustKubectl(t, targetManifest("after-rotation", doc), "apply", "-f", "-")
	})

	t.Run("flinkgate without the watch permission is not ready, and says why", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rbacYAML := `apiVersion: v1
kind: ServiceAccount
metadata: {name: half-blind, namespace: flink-platform}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: half-blind, namespace: flink-platform}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: half-blind, namespace: flink-platform}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: half-blind}
subjects: [{kind: ServiceAccount, name: half-blind, namespace: flink-platform}]
`
		s.mustKubectl(t, rbacYAML, "apply", "-f", "-")
		token, err := s.c.ServiceAccountToken(ctx, platformNS, "half-blind", 0)
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
			Binary: s.binary, Kubeconfig: kubeconfig, PlatformNamespace: platformNS, Namespaces: []string{platformNS},
			ExtraArgs: []string{"--rbac-preflight=off"},
		})
		if err == nil {
			fg.Stop()
			t.Fatal("flinkgate became ready although it may not watch ConfigMaps")
		}
		if !strings.Contains(err.Error(), "refuses to let flinkgate list or watch") {
			t.Errorf("readiness failed without naming the refused watch: %v", err)
		}
	})

	t.Run("decisions reach the API server's audit log", func(t *testing.T) {
		if s.c.AuditLog == "" {
			t.Skip("the control plane writes no audit log")
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			b, err := os.ReadFile(s.c.AuditLog)
			if err == nil && strings.Contains(string(b), `"validate.flinkgate.io/reason":"referenced"`) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit log lacks flinkgate's annotation validate.flinkgate.io/reason=referenced")
			}
			pollPause()
		}
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pollPause spaces out the attempts of a poll with a deadline.
func pollPause() { <-time.After(200 * time.Millisecond) }
