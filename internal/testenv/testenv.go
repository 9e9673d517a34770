// Package testenv finds the pinned tool binaries (etcd, kube-apiserver, kubectl,
// helm) that tests run against.
package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// ToolsBin returns the directory holding the pinned tools, from
// FLINKGATE_TOOLS_BIN (set by `make test` to the output of hack/tools.sh).
// Without it the test is skipped, so a plain `go test ./...` stays fast; with
// FLINKGATE_REQUIRE_TOOLS=1 (also set by `make test`) a missing tool fails the
// test instead, so CI can never pass by skipping.
func ToolsBin(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FLINKGATE_TOOLS_BIN")
	if dir == "" {
		if os.Getenv("FLINKGATE_REQUIRE_TOOLS") == "1" {
			t.Fatal("FLINKGATE_TOOLS_BIN is not set; run the tests with `make test`")
		}
		t.Skip("FLINKGATE_TOOLS_BIN is not set; run `make test` to use the pinned tools")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl", "helm"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("pinned tool %s is missing from FLINKGATE_TOOLS_BIN: %v", name, err)
		}
	}
	if v := KubeVersion(t); v != "" {
		for _, name := range []string{"kube-apiserver", "kubectl"} {
			if _, err := os.Stat(filepath.Join(dir, "kube-"+v, name)); err != nil {
				t.Fatalf("FLINKGATE_KUBE_VERSION=%s, but its %s is missing from FLINKGATE_TOOLS_BIN (hack/tools.sh oldest builds it): %v", v, name, err)
			}
		}
	}
	return dir
}

// KubeVersion returns the Kubernetes minor release ("1.30") whose
// kube-apiserver and kubectl the tests run, from FLINKGATE_KUBE_VERSION
// (set by `make e2e-oldest`); empty means the newest pinned release. It is
// what cluster.Options.KubeVersion takes.
func KubeVersion(t testing.TB) string {
	t.Helper()
	v := os.Getenv("FLINKGATE_KUBE_VERSION")
	if v != "" && !kubeMinor.MatchString(v) {
		t.Fatalf("FLINKGATE_KUBE_VERSION=%q is not a minor release like 1.30", v)
	}
	return v
}

var kubeMinor = regexp.MustCompile(`^1\.[0-9]{1,3}$`)

// NewestOnly skips a test when FLINKGATE_KUBE_VERSION selects an older
// Kubernetes than the newest pinned one. It is for the few tests whose run on
// another API server adds minutes and checks nothing that version changes;
// reason says why, and is the skip's message.
func NewestOnly(t testing.TB, reason string) {
	t.Helper()
	v := KubeVersion(t)
	if v == "" {
		return
	}
	// The newest's directory (kube-1.37) links to the tools directory's own
	// binaries.
	dir := ToolsBin(t)
	selected, err1 := os.Stat(filepath.Join(dir, "kube-"+v, "kube-apiserver"))
	newest, err2 := os.Stat(filepath.Join(dir, "kube-apiserver"))
	if err1 == nil && err2 == nil && os.SameFile(selected, newest) {
		return
	}
	t.Skipf("runs against the newest Kubernetes only, not %s: %s", v, reason)
}

// Tool returns the path of one pinned tool.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(ToolsBin(t), name)
}
