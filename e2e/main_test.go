//go:build e2e

// Package e2e drives flinkgate through a real kube-apiserver with kubectl and
// helm as clients.
//
// Starting a control plane takes seconds, so every test of the package shares
// one, started by the first test that asks for it and stopped by TestMain.
// Each test creates what it needs under names of its own (suite.name), so any
// test runs alone (`go test -tags e2e -run '^TestX$' ./e2e/`) or in any order.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/testenv"
)

// platformNS is the namespace the shared flinkgate serves; its targets name
// the namespaces in targetNamespaces.
const platformNS = "flink-platform"

var targetNamespaces = []string{"staging", "production"}

// env is what the tests share: the control plane, the flinkgate binary under
// test and a flinkgate serving platformNS (RBAC preflight off; the chart
// tests cover it) registered as the cluster's webhooks.
type env struct {
	c      *cluster.Cluster
	binary string
	fg     *cluster.Flinkgate
}

var shared struct {
	once sync.Once
	env  *env
	err  error
	// binDir holds the flinkgate binary; TestMain removes it.
	binDir string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		shared.env.c.Stop() // stops every flinkgate it started, too
	}
	if shared.binDir != "" {
		_ = os.RemoveAll(shared.binDir)
	}
	os.Exit(code)
}

// sharedEnv returns the shared environment, starting it on first use. A
// failed start fails every test that needs it, with the same error.
func sharedEnv(t *testing.T) *env {
	t.Helper()
	toolsBin, kubeVersion := testenv.ToolsBin(t), testenv.KubeVersion(t)
	shared.once.Do(func() {
		began := time.Now()
		shared.env, shared.err = startEnv(toolsBin, kubeVersion)
		if shared.err == nil {
			t.Logf("the shared control plane and flinkgate started in %s", time.Since(began).Round(100*time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatalf("start the shared control plane: %v", shared.err)
	}
	return shared.env
}

func startEnv(toolsBin, kubeVersion string) (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// Compile flinkgate while the control plane starts.
	var (
		binary   string
		buildErr error
		built    = make(chan struct{})
	)
	go func() {
		defer close(built)
		binary, buildErr = buildFlinkgate()
	}()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: toolsBin, KubeVersion: kubeVersion, Log: progressLog{}})
	<-built
	if err != nil {
		return nil, err
	}
	e := &env{c: c, binary: binary}
	if buildErr != nil {
		c.Stop()
		return nil, buildErr
	}
	if err := e.setUp(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return e, nil
}

func (e *env) setUp(ctx context.Context) error {
	for _, ns := range append([]string{platformNS}, targetNamespaces...) {
		if err := e.c.CreateNamespace(ctx, ns, nil); err != nil {
			return err
		}
	}
	fg, err := e.c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: e.binary, PlatformNamespace: platformNS, Namespaces: []string{platformNS},
		// A short settle time: deleting a target waits for it (protection_test.go).
		ExtraArgs: []string{"--rbac-preflight=off", settle},
	})
	if err != nil {
		return fmt.Errorf("start flinkgate: %w", err)
	}
	e.fg = fg
	if err := e.c.RegisterWebhooks(ctx, fg.WebhookURL(), fg.CABundle(), []string{platformNS}); err != nil {
		return fmt.Errorf("register webhooks: %w", err)
	}
	return nil
}

// loadTestOnNewestOnly skips a load or flood test unless the run is against
// the newest Kubernetes (FLINKGATE_KUBE_VERSION): each takes a minute or more,
// what it loads is flinkgate's own bounds, and the admission path it goes
// through is what the rest of the suite checks on every version.
func loadTestOnNewestOnly(t *testing.T) {
	t.Helper()
	testenv.NewestOnly(t, "a load test of flinkgate's own bounds; the rest of the suite covers its admission path on every version")
}

// buildFlinkgate compiles the binary under test once per test binary.
func buildFlinkgate() (string, error) {
	dir, err := os.MkdirTemp("", "flinkgate-e2e-bin-")
	if err != nil {
		return "", fmt.Errorf("create binary directory: %w", err)
	}
	shared.binDir = dir
	out := filepath.Join(dir, "flinkgate")
	cmd := exec.Command("go", "build", "-o", out, "flinkgate.io/flinkgate/cmd/flinkgate")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build flinkgate: %w\n%s", err, b)
	}
	return out, nil
}

// progressLog shows the control plane's progress with -v. It outlives every
// single test, so it cannot write to one test's log.
type progressLog struct{}

func (progressLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		fmt.Fprint(os.Stderr, string(p))
	}
	return len(p), nil
}

// logOnFailure adds the tail of a flinkgate's log to a failing test's output.
func logOnFailure(t *testing.T, fg *cluster.Flinkgate) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		if b, err := os.ReadFile(fg.LogPath()); err == nil {
			t.Logf("%s:\n%s", filepath.Base(fg.LogPath()), tail(string(b), 40))
		}
	})
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
