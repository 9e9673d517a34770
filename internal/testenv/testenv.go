// Package testenv finds the pinned tool binaries (etcd, kube-apiserver, kubectl,
// helm) that tests run against.
package testenv

import (
	"os"
	"path/filepath"
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
	return dir
}

// Tool returns the path of one pinned tool.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(ToolsBin(t), name)
}
