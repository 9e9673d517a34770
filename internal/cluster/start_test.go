package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartRefusesADirectoryWithAPreviousCluster(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"etcd", "kube-apiserver"} {
		if err := os.WriteFile(filepath.Join(bin, tool), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, etcdDataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Options{BinDir: bin, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "previous cluster") {
		t.Fatalf("Start = %v, want an error about a previous cluster", err)
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d returned twice: %v", p, ports)
		}
		seen[p] = true
	}
}
