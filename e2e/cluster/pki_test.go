package cluster

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertificatesChainToTheCA(t *testing.T) {
	ca, err := newCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.newServingCert("server", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.newClientCert("admin", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	tests := []struct {
		name  string
		cert  *x509.Certificate
		opts  x509.VerifyOptions
		check func(*x509.Certificate) string
	}{
		{
			name: "The serving certificate is valid for 127.0.0.1.",
			cert: serving.cert,
			opts: x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"},
		},
		{
			name: "The serving certificate is valid for localhost.",
			cert: serving.cert,
			opts: x509.VerifyOptions{Roots: roots, DNSName: "localhost"},
		},
		{
			name: "The client certificate names the user and its group.",
			cert: client.cert,
			opts: x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			check: func(c *x509.Certificate) string {
				if c.Subject.CommonName != "admin" || strings.Join(c.Subject.Organization, ",") != "system:masters" {
					return "subject is " + c.Subject.String()
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.cert.Verify(tt.opts); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tt.check != nil {
				if problem := tt.check(tt.cert); problem != "" {
					t.Error(problem)
				}
			}
		})
	}
}

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
	ports, err := freePorts(5)
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
