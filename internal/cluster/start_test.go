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

func TestKubeVersionSelectsTheDirectoryOfItsBinaries(t *testing.T) {
	bin := t.TempDir()
	tests := []struct {
		name, version, wantDir, wantErr string
	}{
		{name: "No version is the newest, the tools directory's own binaries.", version: "", wantDir: bin},
		{name: "A minor release is the directory named after it.", version: "1.30", wantDir: filepath.Join(bin, "kube-1.30")},
		{name: "A patch release is refused, naming the form wanted.", version: "1.30.14", wantErr: "like 1.30"},
		{name: "A path is refused before it can name a directory elsewhere.", version: "1.30/../../x", wantErr: "like 1.30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := KubeBinDir(bin, tt.version)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("KubeBinDir(%q) = %q, %v; want an error containing %q", tt.version, dir, err, tt.wantErr)
				}
				return
			}
			if err != nil || dir != tt.wantDir {
				t.Fatalf("KubeBinDir(%q) = %q, %v; want %q", tt.version, dir, err, tt.wantDir)
			}
		})
	}
}

func TestStartRefusesWhatAnOlderKubernetesCannotRun(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"etcd", "kube-apiserver", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		if err := os.WriteFile(filepath.Join(bin, tool), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{
			name:    "A node with an older API server is refused: its kubelet would be newer than the API server.",
			opts:    Options{BinDir: bin, KubeVersion: "1.30", Node: true},
			wantErr: "newest Kubernetes only",
		},
		{
			name:    "An older version whose binaries were not built is refused, naming the missing one.",
			opts:    Options{BinDir: bin, KubeVersion: "1.30"},
			wantErr: "find kube-apiserver",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Dir = t.TempDir()
			_, err := Start(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.wantErr)
			}
		})
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
