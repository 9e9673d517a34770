//go:build e2e

package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/testenv"
)

// testLog sends the package's progress messages to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestClusterServesRBACAndStopsWithoutLeftovers(t *testing.T) {
	bin := testenv.ToolsBin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	started := time.Now()
	c, err := Start(ctx, Options{BinDir: bin, KubeVersion: testenv.KubeVersion(t), Log: testLog{t}})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	t.Logf("cluster started in %s", time.Since(started).Round(time.Millisecond))

	const ns, sa = "e2e-rbac", "robot"
	if err := c.CreateNamespace(ctx, ns, map[string]string{"purpose": "e2e"}); err != nil {
		t.Fatal(err)
	}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}}
	if _, err := c.Client().CoreV1().ServiceAccounts(ns).Create(ctx, account, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	token, err := c.ServiceAccountToken(ctx, ns, sa, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	robot, err := c.KubeconfigFor(token)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		kubeconfig string
		args       []string
		wantOut    []string // substrings of stdout
		wantErr    string   // substring of the error; empty means success
	}{
		{
			name:       "The admin kubeconfig lists the namespaces.",
			kubeconfig: c.Kubeconfig,
			args:       []string{"get", "namespaces", "-o", "name"},
			wantOut:    []string{"namespace/kube-system", "namespace/" + ns},
		},
		{
			name:       "The admin kubeconfig authenticates as a member of system:masters.",
			kubeconfig: c.Kubeconfig,
			args:       []string{"auth", "whoami"},
			wantOut:    []string{"admin", "system:masters"},
		},
		{
			name:       "A ServiceAccount token authenticates as that ServiceAccount.",
			kubeconfig: robot,
			args:       []string{"auth", "whoami"},
			wantOut:    []string{"system:serviceaccount:" + ns + ":" + sa},
		},
		{
			name:       "A ServiceAccount without roles is forbidden from listing secrets.",
			kubeconfig: robot,
			args:       []string{"get", "secrets", "-n", ns},
			wantErr:    "forbidden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--kubeconfig=" + tt.kubeconfig}, tt.args...)
			stdout, _, err := run(ctx, nil, "", filepath.Join(c.kubeBinDir, "kubectl"), args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("kubectl failed: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("kubectl succeeded, want an error containing %q; output:\n%s", tt.wantErr, stdout)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("kubectl error = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout, want) {
					t.Errorf("kubectl output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}

	t.Run("The API server and kubectl are of the Kubernetes version the run selects.", func(t *testing.T) {
		want := "v" + testenv.KubeVersion(t) + "."
		if want == "v." {
			want = "v1." // the newest, whichever it is
		}
		if !strings.HasPrefix(c.Version, want) {
			t.Errorf("the API server reports %s, want %s*", c.Version, want)
		}
		out, _, err := c.Kubectl(ctx, "version", "--client", "-o", "json")
		if err != nil {
			t.Fatalf("kubectl version: %v", err)
		}
		if !strings.Contains(out, `"gitVersion": "`+want) {
			t.Errorf("kubectl version --client is not %s*:\n%s", want, out)
		}
	})

	t.Run("The Kubectl and Helm helpers run the pinned tools as admin.", func(t *testing.T) {
		if _, _, err := c.KubectlInput(ctx, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: piped, namespace: "+ns+"}\n", "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply from stdin: %v", err)
		}
		out, _, err := c.Helm(ctx, "list", "--all-namespaces")
		if err != nil {
			t.Fatalf("helm list: %v", err)
		}
		if !strings.Contains(out, "NAME") {
			t.Errorf("helm list printed no table header:\n%s", out)
		}
	})

	t.Run("The audit log records ConfigMap requests.", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited", Namespace: ns}}
		if _, err := c.Client().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap: %v", err)
		}
		// The API server writes the event after answering, so poll.
		err := poll(ctx, 30*time.Second, "the audit event", nil, func(context.Context) (bool, error) {
			data, err := os.ReadFile(c.AuditLog)
			return strings.Contains(string(data), `"name":"audited"`), err
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Stop ends every process and removes the temporary directory.", func(t *testing.T) {
		var pids []int
		for _, p := range c.procs {
			pids = append(pids, p.pid())
		}
		if len(pids) != 2 {
			t.Fatalf("cluster runs %d processes, want 2 (etcd, kube-apiserver)", len(pids))
		}
		c.Stop()
		c.Stop() // idempotent
		for _, pid := range pids {
			if processExists(pid) {
				t.Errorf("process %d is still running after Stop", pid)
			}
		}
		if children := childPids(t); len(children) > 0 {
			t.Errorf("child processes left after Stop: %v", children)
		}
		if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cluster directory %s still exists after Stop (stat: %v)", c.Dir, err)
		}
	})
}

func TestAFailedStartLeavesNothingBehind(t *testing.T) {
	bin := testenv.ToolsBin(t)
	// A cancelled context fails the first readiness wait, after etcd has
	// been started.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Start(ctx, Options{BinDir: bin, KubeVersion: testenv.KubeVersion(t)}); err == nil {
		t.Fatal("Start with a cancelled context succeeded")
	}
	if children := childPids(t); len(children) > 0 {
		t.Errorf("child processes left after a failed Start: %v", children)
	}
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+strconv.Itoa(os.Getpid())+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) > 0 {
		t.Errorf("temporary directories left after a failed Start: %v", dirs)
	}
}

// childPids lists this process's children, zombies included, from /proc.
func childPids(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended meanwhile
		}
		pids = append(pids, strings.Fields(string(data))...)
	}
	return pids
}
