//go:build e2e

package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/testenv"
)

// buildFlinkgate builds cmd/flinkgate into a temporary directory.
func buildFlinkgate(t *testing.T) string {
	t.Helper()
	sources, _ := filepath.Glob("../../cmd/flinkgate/*.go")
	if len(sources) == 0 {
		t.Skip("cmd/flinkgate has no sources yet")
	}
	binary := filepath.Join(t.TempDir(), "flinkgate")
	cmd := exec.Command("go", "build", "-o", binary, "flinkgate.io/flinkgate/cmd/flinkgate")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build flinkgate: %v\n%s", err, out)
	}
	return binary
}

func TestFlinkgateRunsAsTheClustersWebhook(t *testing.T) {
	bin := testenv.ToolsBin(t)
	binary := buildFlinkgate(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	c, err := Start(ctx, Options{BinDir: bin, KubeVersion: testenv.KubeVersion(t), Log: testLog{t}})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	const ns = "flink-platform"
	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	f, err := c.StartFlinkgate(ctx, FlinkgateOptions{
		Binary:            binary,
		PlatformNamespace: ns,
		Namespaces:        []string{ns},
		// This test is about the harness, not about RBAC preflight.
		ExtraArgs: []string{"--rbac-preflight=off"},
	})
	if err != nil {
		t.Fatalf("start flinkgate: %v", err)
	}
	// RegisterWebhooks returns only once both webhooks deny a bogus kind.
	if err := c.RegisterWebhooks(ctx, f.WebhookURL(), f.CABundle(), []string{ns}); err != nil {
		t.Fatalf("register webhooks: %v", err)
	}

	t.Run("A valid target passes both webhooks and is mutated.", func(t *testing.T) {
		target := `apiVersion: v1
kind: ConfigMap
metadata:
  name: staging
  namespace: ` + ns + `
  labels: {` + resource.LabelKind + `: ` + resource.KindTarget + `}
data:
  ` + resource.DataKey + `: |
    kind: DeploymentTarget
    spec:
      kubernetes:
        namespace: staging
`
		if _, _, err := c.KubectlInput(ctx, target, "apply", "-f", "-"); err != nil {
			t.Fatalf("apply target: %v", err)
		}
		got, err := c.Client().CoreV1().ConfigMaps(ns).Get(ctx, "staging", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Immutable == nil || !*got.Immutable {
			t.Errorf("the target was admitted without immutable: true")
		}
	})

	t.Run("Stopping flinkgate ends its process and keeps its log.", func(t *testing.T) {
		pid := f.Pid()
		f.Stop()
		f.Stop() // idempotent
		if processExists(pid) {
			t.Errorf("flinkgate (pid %d) is still running after Stop", pid)
		}
		log, err := os.ReadFile(f.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(log), "staging") {
			t.Errorf("flinkgate's log does not mention the admitted target:\n%s", log)
		}
	})

	t.Run("Cluster.Stop leaves no child process.", func(t *testing.T) {
		c.Stop()
		if children := childPids(t); len(children) > 0 {
			t.Errorf("child processes left after Stop: %v", children)
		}
	})
}
