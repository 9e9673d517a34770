package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func newTestCA(t *testing.T, name string) *CA {
	t.Helper()
	ca, err := NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parsed(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	cs, err := ParseCertificates(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	return cs[0]
}

// servingKeyPair is a new serving certificate for 127.0.0.1, with its bundle.
func servingKeyPair(t *testing.T) (tls.Certificate, *Bundle) {
	t.Helper()
	b, err := Generate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pair, b
}

func caPEM(ca *CA) []byte { return EncodeCertificates([]*x509.Certificate{ca.Cert}) }

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientAuthOf is a ClientAuth trusting ca, and its CA file.
func clientAuthOf(t *testing.T, ca *CA, names ...string) (*ClientAuth, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.crt")
	writeFile(t, file, caPEM(ca))
	a, _ := newClientAuth(t, file, names...)
	return a, file
}

func newClientAuth(t *testing.T, file string, names ...string) (*ClientAuth, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := NewClientAuth(file, names, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

func TestClientAuthVerifiesTheCallersCertificate(t *testing.T) {
	trusted := newTestCA(t, "webhook-clients")
	other := newTestCA(t, "someone-else")
	client := func(ca *CA, cn string) []*x509.Certificate {
		kp, err := ca.Client(cn, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parsed(t, kp.CertPEM)}
	}
	serving, err := trusted.Serving([]string{"apiserver.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		names  []string
		chain  []*x509.Certificate
		reason string // empty: accepted
	}{
		{"a caller without a certificate is refused", nil, nil, refusedNoCertificate},
		{"a certificate the CA signed for client use is accepted", nil, client(trusted, "kube-apiserver"), ""},
		{"a certificate another CA signed is refused", nil, client(other, "kube-apiserver"), refusedUntrusted},
		{"a certificate the CA signed only for serving is refused", nil, []*x509.Certificate{parsed(t, serving.CertPEM)}, refusedUntrusted},
		{"a chain longer than the bound is refused before it is verified", nil, append(client(trusted, "kube-apiserver"), trusted.Cert, trusted.Cert, trusted.Cert, trusted.Cert), refusedUntrusted},
		{"an allowed common name is accepted", []string{"kube-apiserver"}, client(trusted, "kube-apiserver"), ""},
		{"a common name that is not allowed is refused", []string{"kube-apiserver"}, client(trusted, "system:node:evil"), refusedName},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := clientAuthOf(t, trusted, tc.names...)
			err := a.Verify(tc.chain)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if got := testutil.ToFloat64(a.refused[tc.reason]); got != 1 {
				t.Fatalf("refusals{reason=%q} = %v, want 1 (error: %v)", tc.reason, got, err)
			}
		})
	}
}

func TestClientAuthAcceptsAnAllowedDNSName(t *testing.T) {
	ca := newTestCA(t, "webhook-clients")
	withDNSName := func(name string) []*x509.Certificate {
		tmpl := template("not-an-allowed-common-name", time.Hour)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = []string{name}
		kp, err := ca.sign(tmpl, "client")
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parsed(t, kp.CertPEM)}
	}
	a, _ := clientAuthOf(t, ca, "kube-apiserver.example")
	if err := a.Verify(withDNSName("kube-apiserver.example")); err != nil {
		t.Fatalf("a DNS name in the allowed list was refused: %v", err)
	}
	if err := a.Verify(withDNSName("other.example")); err == nil {
		t.Fatal("a DNS name outside the allowed list was accepted")
	}
}

func TestClientAuthRefusesEveryoneUntilACALoads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ca.crt")
	a, _ := newClientAuth(t, file)
	if a.Ready() == nil {
		t.Fatal("ready without a CA file")
	}
	ca := newTestCA(t, "webhook-clients")
	kp, err := ca.Client("kube-apiserver", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{parsed(t, kp.CertPEM)}
	if err := a.Verify(chain); err == nil {
		t.Fatal("a caller was accepted before any CA loaded")
	}
	if got := testutil.ToFloat64(a.refused[refusedNoCA]); got != 1 {
		t.Fatalf("refusals{reason=ca_not_loaded} = %v, want 1", got)
	}
	writeFile(t, file, caPEM(ca))
	a.Reload()
	if err := a.Ready(); err != nil {
		t.Fatalf("not ready after the CA file appeared: %v", err)
	}
	if err := a.Verify(chain); err != nil {
		t.Fatalf("refused after the CA loaded: %v", err)
	}
}

func TestClientAuthReloads(t *testing.T) {
	first, second := newTestCA(t, "first"), newTestCA(t, "second")
	chainOf := func(ca *CA) []*x509.Certificate {
		kp, err := ca.Client("kube-apiserver", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parsed(t, kp.CertPEM)}
	}
	cases := []struct {
		name          string
		replaceWith   []byte
		firstAccepted bool
		secondAccept  bool
	}{
		{"a new CA file replaces the old CAs", caPEM(second), false, true},
		{"a bundle of both CAs accepts callers of either, for a rotation", append(caPEM(first), caPEM(second)...), true, true},
		{"a file that is not PEM keeps the previous CAs in service", []byte("not a certificate"), true, false},
		{"a file holding a leaf instead of a CA keeps the previous CAs in service", func() []byte {
			kp, err := second.Client("x", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return kp.CertPEM
		}(), true, false},
		{"a file over the size bound keeps the previous CAs in service", []byte(strings.Repeat("#", maxClientCAFile+1)), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, file := clientAuthOf(t, first)
			writeFile(t, file, tc.replaceWith)
			a.Reload()
			if got := a.Verify(chainOf(first)) == nil; got != tc.firstAccepted {
				t.Errorf("caller of the first CA accepted = %v, want %v", got, tc.firstAccepted)
			}
			if got := a.Verify(chainOf(second)) == nil; got != tc.secondAccept {
				t.Errorf("caller of the second CA accepted = %v, want %v", got, tc.secondAccept)
			}
			if err := a.Ready(); err != nil {
				t.Errorf("not ready with CAs in service: %v", err)
			}
		})
	}
}

// TestClientAuthRefusesHandshakes checks Apply over real TLS: the refusal
// happens in the handshake, before a single byte of a review is read.
func TestClientAuthRefusesHandshakes(t *testing.T) {
	serverCert, serverBundle := servingKeyPair(t)
	clients, other := newTestCA(t, "webhook-clients"), newTestCA(t, "someone-else")
	a, _ := clientAuthOf(t, clients)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(serverBundle.CACert)
	keyPair := func(ca *CA) []tls.Certificate {
		kp, err := ca.Client("kube-apiserver", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	cases := []struct {
		name     string
		version  uint16
		certs    []tls.Certificate
		accepted bool
	}{
		{"over TLS 1.3 a caller with the API server's certificate completes the handshake", tls.VersionTLS13, keyPair(clients), true},
		{"over TLS 1.3 a caller without a certificate is refused in the handshake", tls.VersionTLS13, nil, false},
		{"over TLS 1.3 a caller with another CA's certificate is refused in the handshake", tls.VersionTLS13, keyPair(other), false},
		{"over TLS 1.2 a caller with the API server's certificate completes the handshake", tls.VersionTLS12, keyPair(clients), true},
		{"over TLS 1.2 a caller without a certificate is refused in the handshake", tls.VersionTLS12, nil, false},
		{"over TLS 1.2 a caller with another CA's certificate is refused in the handshake", tls.VersionTLS12, keyPair(other), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := a.Apply(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverCert}})
			cconn, sconn := net.Pipe()
			defer cconn.Close()
			defer sconn.Close()
			srvErr := make(chan error, 1)
			go func() {
				s := tls.Server(sconn, cfg)
				err := s.Handshake()
				if err == nil {
					// TLS 1.3 clients finish before the server has read their
					// certificate; a read makes the server's verdict reach them.
					_, err = s.Write([]byte{1})
				}
				srvErr <- err
				sconn.Close()
			}()
			c := tls.Client(cconn, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tc.version, MaxVersion: tc.version, Certificates: tc.certs})
			err := c.Handshake()
			if err == nil {
				_, err = c.Read(make([]byte, 1))
			}
			serr := <-srvErr
			if tc.accepted && (err != nil || serr != nil) {
				t.Fatalf("refused: client %v, server %v", err, serr)
			}
			if !tc.accepted && (err == nil || serr == nil) {
				t.Fatalf("accepted: client %v, server %v", err, serr)
			}
		})
	}
}
