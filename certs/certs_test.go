package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func writeBundle(t *testing.T, dir string, hosts ...string) *Bundle {
	t.Helper()
	b, err := Generate(hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenerateCoversHostsAndChainsToTheCA(t *testing.T) {
	cases := []struct {
		name, host string
	}{
		{"an IP address host is verified as an IP SAN", "127.0.0.1"},
		{"a DNS host is verified as a DNS SAN", "flinkgate.flink-platform.svc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Generate([]string{"localhost", tc.host}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.Cert, b.Key)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(b.CACert)
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: tc.host, Roots: pool}); err != nil {
				t.Errorf("certificate does not verify for %s: %v", tc.host, err)
			}
		})
	}
}

func TestReloaderServesRotatedCertificateWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	first := writeBundle(t, dir, "127.0.0.1")
	reg := prometheus.NewRegistry()
	r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ready(); err != nil {
		t.Fatalf("not ready with a valid certificate: %v", err)
	}
	// Not httptest's StartTLS: it installs its own certificate, which Go
	// prefers over GetCertificate when the client sends no server name.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "https://" + ln.Addr().String()

	get := func(ca []byte) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(first.CACert); err != nil {
		t.Fatalf("first certificate not served: %v", err)
	}
	second := writeBundle(t, dir, "127.0.0.1")
	r.Reload()
	if err := get(second.CACert); err != nil {
		t.Errorf("rotated certificate not served: %v", err)
	}
	if err := get(first.CACert); err == nil {
		t.Errorf("the old certificate is still served after rotation")
	}
	if got := testutil.ToFloat64(r.served.expiry); got < float64(time.Now().Unix()) {
		t.Errorf("expiry gauge %v is not in the future", got)
	}
}

func TestReloaderKeepsTheGoodCertificateWhenFilesBreak(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "127.0.0.1")
	r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.Reload()
	if _, err := r.GetCertificate(nil); err != nil {
		t.Errorf("a broken key file took the good certificate out of service: %v", err)
	}
}

func TestReadiness(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(t *testing.T, dir string)
		now       time.Time
		wantReady bool
	}{
		{"missing files are not ready", func(*testing.T, string) {}, time.Now(), false},
		{"a valid certificate is ready", func(t *testing.T, dir string) { writeBundle(t, dir, "127.0.0.1") }, time.Now(), true},
		{"an expired certificate is not ready", func(t *testing.T, dir string) { writeBundle(t, dir, "127.0.0.1") }, time.Now().Add(2 * time.Hour), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			r.now = func() time.Time { return tc.now }
			if err := r.Ready(); (err == nil) != tc.wantReady {
				t.Errorf("Ready() = %v, want ready=%v", err, tc.wantReady)
			}
		})
	}
}

func TestTLSBelow12IsRefused(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "127.0.0.1")
	r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // the point of the test
	defer c.Close()
	if err := c.Handshake(); err == nil {
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
}
