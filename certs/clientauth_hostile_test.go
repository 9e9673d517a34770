package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// tlsPeer is one side of the handshakes below: a listener serving a
// configuration built once (so session tickets it issues can be resumed
// against it), and a way to dial it.
type tlsPeer struct {
	ln    net.Listener
	roots *x509.CertPool
}

// serveHandshakes accepts connections on the configuration build makes
// around a serving certificate, until the test ends; each completes its
// handshake and writes one byte, so a TLS 1.3 client learns the server's
// verdict on its certificate.
func serveHandshakes(t *testing.T, build func(serving tls.Certificate) *tls.Config) *tlsPeer {
	t.Helper()
	pair, bundle := servingKeyPair(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", build(pair))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
				}
			}()
		}
	}()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle.CACert)
	return &tlsPeer{ln: ln, roots: roots}
}

// dial completes a handshake and reads the server's byte; it reports
// whether the session was resumed and whether the server let it in.
func (p *tlsPeer) dial(t *testing.T, cfg *tls.Config) (resumed bool, err error) {
	t.Helper()
	cfg = cfg.Clone()
	cfg.RootCAs, cfg.ServerName = p.roots, "127.0.0.1"
	c, err := tls.Dial("tcp", p.ln.Addr().String(), cfg)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// The byte may come with the server's close_notify, as (1, io.EOF).
	_, err = io.ReadFull(c, make([]byte, 1))
	return c.ConnectionState().DidResume, err
}

// applied is the webhook listener's configuration: the serving certificate
// from a callback, as both certificate sources give it, and a's checks.
func applied(a *ClientAuth) func(tls.Certificate) *tls.Config {
	return func(serving tls.Certificate) *tls.Config {
		return a.Apply(&tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil }})
	}
}

func clientKeyPair(t *testing.T, ca *CA, cn string) tls.Certificate {
	t.Helper()
	kp, err := ca.Client(cn, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientAuthChecksResumedSessionsAgain: a resumed session does not
// present its certificate again, it carries the one the first handshake
// verified. These cases hold only while the check runs for resumptions too
// (VerifyConnection does; VerifyPeerCertificate would not).
func TestClientAuthChecksResumedSessionsAgain(t *testing.T) {
	cases := []struct {
		name string
		// between runs after a first, accepted handshake and before the
		// caller resumes its session.
		between func(t *testing.T, a *ClientAuth, file string)
		// refused: whether the resumption must be refused.
		refused bool
	}{
		{"a session resumed while its CA is still trusted is accepted, so the cases below do resume", func(*testing.T, *ClientAuth, string) {}, false},
		{"a session resumed after its CA left the CA file is refused", func(t *testing.T, a *ClientAuth, file string) {
			writeFile(t, file, caPEM(newTestCA(t, "the-next-ca")))
			a.Reload()
		}, true},
		{"a session resumed after its certificate expired is refused", func(t *testing.T, a *ClientAuth, _ string) {
			a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}, true},
	}
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for _, tc := range cases {
			t.Run(tls.VersionName(version)+": "+tc.name, func(t *testing.T) {
				// The CA outlives the caller's certificate (an hour), so that
				// expiry is the certificate's alone.
				ca, err := NewCA("webhook-clients", 24*time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				a, file := clientAuthOf(t, ca)
				srv := serveHandshakes(t, applied(a))
				client := &tls.Config{MinVersion: version, MaxVersion: version,
					Certificates: []tls.Certificate{clientKeyPair(t, ca, "kube-apiserver")}, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
				if _, err := srv.dial(t, client); err != nil {
					t.Fatalf("the first handshake was refused: %v", err)
				}
				tc.between(t, a, file)
				// Without a certificate to offer, a full handshake would be
				// refused anyway; this isolates what the resumption carries.
				client.Certificates = nil
				resumed, err := srv.dial(t, client)
				if tc.refused {
					if err == nil {
						t.Fatalf("the resumed session was accepted (resumed=%v)", resumed)
					}
					return
				}
				if err != nil || !resumed {
					t.Fatalf("resumed=%v err=%v, want a resumed, accepted session", resumed, err)
				}
			})
		}
	}
}

// TestClientAuthRefusesWithoutTheKey: the API server's certificate is no
// secret (TLS 1.2 sends it in the clear), so holding it must not be enough.
func TestClientAuthRefusesWithoutTheKey(t *testing.T) {
	ca := newTestCA(t, "webhook-clients")
	a, _ := clientAuthOf(t, ca, "kube-apiserver")
	srv := serveHandshakes(t, applied(a))
	stolen := clientKeyPair(t, ca, "kube-apiserver")
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stolen.PrivateKey = otherKey
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version)+": a caller presenting the API server's certificate without its key is refused", func(t *testing.T) {
			if _, err := srv.dial(t, &tls.Config{MinVersion: version, MaxVersion: version, Certificates: []tls.Certificate{stolen}}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestClientAuthIssuesNoTicketToARefusedCaller: a refused caller must not
// leave with a session ticket it could resume later.
func TestClientAuthIssuesNoTicketToARefusedCaller(t *testing.T) {
	ca := newTestCA(t, "webhook-clients")
	a, _ := clientAuthOf(t, ca)
	srv := serveHandshakes(t, applied(a))
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version)+": a caller refused for want of a certificate gets no session to resume", func(t *testing.T) {
			cache := &recordingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			client := &tls.Config{MinVersion: version, MaxVersion: version, ClientSessionCache: cache}
			if _, err := srv.dial(t, client); err == nil {
				t.Fatal("accepted without a certificate")
			}
			if cache.puts != 0 {
				t.Fatalf("the refused caller was given %d session(s)", cache.puts)
			}
		})
	}
}

type recordingCache struct {
	tls.ClientSessionCache
	puts int
}

func (c *recordingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts++
	}
	c.ClientSessionCache.Put(key, cs)
}

// TestClientAuthRefusesWhereTheHandshakeStarts covers the ways into a
// handshake other than the plain configuration.
func TestClientAuthRefusesWhereTheHandshakeStarts(t *testing.T) {
	cases := []struct {
		name string
		// caFile is written before the ClientAuth starts; nil leaves no file.
		caFile func(ca *CA) []byte
		build  func(a *ClientAuth) func(tls.Certificate) *tls.Config
		// certificate: whether the caller presents one the CA signed.
		certificate bool
		// wantErr is what the caller is told, and reason what is counted.
		wantErr, reason string
	}{
		{
			name:   "with no CA loaded, a caller is refused before the server presents its certificate, so that nobody mistakes the refusal for a working check",
			caFile: func(*CA) []byte { return []byte("not a certificate") },
			build:  applied, certificate: true,
			wantErr: "remote error: tls: internal error", reason: refusedNoCA,
		},
		{
			name:   "a base configuration that chooses its configuration per caller still refuses a caller without a certificate",
			caFile: caPEM,
			build: func(a *ClientAuth) func(tls.Certificate) *tls.Config {
				return func(serving tls.Certificate) *tls.Config {
					perCaller := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serving}}
					return a.Apply(&tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return perCaller, nil }})
				}
			},
			wantErr: "remote error: tls: bad certificate", reason: refusedNoCertificate,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, "webhook-clients")
			file := filepath.Join(t.TempDir(), "ca.crt")
			writeFile(t, file, tc.caFile(ca))
			a, _ := newClientAuth(t, file)
			srv := serveHandshakes(t, tc.build(a))
			client := &tls.Config{MinVersion: tls.VersionTLS12}
			if tc.certificate {
				client.Certificates = []tls.Certificate{clientKeyPair(t, ca, "kube-apiserver")}
			}
			_, err := srv.dial(t, client)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
			if got := testutil.ToFloat64(a.refused[tc.reason]); got != 1 {
				t.Fatalf("refusals{reason=%q} = %v, want 1", tc.reason, got)
			}
		})
	}
}

// TestClientAuthIsNotReadyWhenNoCAIsValid: a CA that expired refuses every
// caller as surely as a missing one, the API server too.
func TestClientAuthIsNotReadyWhenNoCAIsValid(t *testing.T) {
	caAt := func(notBefore time.Time, validity time.Duration) []byte {
		ca, err := NewCAAt("webhook-clients", notBefore, validity)
		if err != nil {
			t.Fatal(err)
		}
		return caPEM(ca)
	}
	expired := func() []byte { return caAt(time.Now().Add(-2*time.Hour), time.Hour) }
	notYet := func() []byte { return caAt(time.Now().Add(time.Hour), time.Hour) }
	valid := func() []byte { return caAt(time.Now().Add(-time.Hour), 2*time.Hour) }
	cases := []struct {
		name      string
		file      []byte
		wantError string // empty: ready
	}{
		{"a file whose only CA has expired is not ready, and says so", expired(), "no webhook client CA is valid now"},
		{"a file whose only CA is not valid yet is not ready, and says so", notYet(), "no webhook client CA is valid now"},
		{"a bundle of an expired CA and a valid one is ready", append(expired(), valid()...), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "ca.crt")
			writeFile(t, file, tc.file)
			a, _ := newClientAuth(t, file)
			err := a.Ready()
			if tc.wantError == "" {
				if err != nil {
					t.Fatalf("not ready: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantError)
			}
		})
	}
}

// TestClientAuthRefusesEarlyWhenNoCAIsValid: as with no CA loaded, so that
// probe --expect-client-auth does not pass on a flinkgate whose only CA
// expired.
func TestClientAuthRefusesEarlyWhenNoCAIsValid(t *testing.T) {
	ca, err := NewCAAt("webhook-clients", time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := clientAuthOf(t, ca)
	srv := serveHandshakes(t, applied(a))
	if _, err := srv.dial(t, &tls.Config{MinVersion: tls.VersionTLS12}); err == nil || err.Error() != "remote error: tls: internal error" {
		t.Fatalf("got %v, want the handshake refused before the server presents its certificate", err)
	}
}

// TestClientAuthRecheck: a connection's caller is checked again for each
// request, against the CAs and the time then.
func TestClientAuthRecheck(t *testing.T) {
	ca, err := NewCA("webhook-clients", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Client("kube-apiserver", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	admitted := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{parsed(t, kp.CertPEM)}}
	cases := []struct {
		name string
		// since changes things after the connection was admitted.
		since   func(t *testing.T, a *ClientAuth, file string)
		state   *tls.ConnectionState
		refused bool
	}{
		{"a connection whose certificate is still trusted passes", func(*testing.T, *ClientAuth, string) {}, admitted, false},
		{"a connection whose certificate's CA has left the CA file is refused", func(t *testing.T, a *ClientAuth, file string) {
			writeFile(t, file, caPEM(newTestCA(t, "the-next-ca")))
			a.Reload()
		}, admitted, true},
		{"a connection whose certificate has expired since it was admitted is refused", func(_ *testing.T, a *ClientAuth, _ string) {
			a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}, admitted, true},
		{"a connection without a certificate is refused", func(*testing.T, *ClientAuth, string) {}, &tls.ConnectionState{}, true},
		{"a request that did not come over TLS is refused", func(*testing.T, *ClientAuth, string) {}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, file := clientAuthOf(t, ca)
			// Checked once before, as each request on a connection is; a
			// result remembered from then must not outlive the change.
			_ = a.Recheck(admitted)
			tc.since(t, a, file)
			if err := a.Recheck(tc.state); (err != nil) != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", err != nil, err, tc.refused)
			}
		})
	}
}

// TestClientAuthLogsEachOutage: a file that breaks, comes back unchanged and
// breaks again in the same way is two outages, and each is logged.
func TestClientAuthLogsEachOutage(t *testing.T) {
	ca := newTestCA(t, "webhook-clients")
	cases := []struct {
		name  string
		spoil func(t *testing.T, file string)
	}{
		{"a file that stops parsing twice, unchanged in between, is logged twice", func(t *testing.T, file string) { writeFile(t, file, []byte("not a certificate")) }},
		{"a file that disappears twice, unchanged in between, is logged twice", func(t *testing.T, file string) {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "ca.crt")
			writeFile(t, file, caPEM(ca))
			core, logs := observer.New(zap.InfoLevel)
			a, err := NewClientAuth(file, nil, zap.New(core), nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				tc.spoil(t, file)
				a.Reload()
				writeFile(t, file, caPEM(ca))
				a.Reload()
			}
			if got := logs.FilterMessage("webhook client CA not loaded").Len(); got != 2 {
				t.Fatalf("%d outages logged, want 2: %v", got, logs.All())
			}
		})
	}
}

// TestClientAuthFollowsAConfigMapVolumeUpdate: the kubelet updates a
// ConfigMap volume by writing a new directory and swapping the ..data
// symlink the file links through; the file's own link never changes.
func TestClientAuthFollowsAConfigMapVolumeUpdate(t *testing.T) {
	first, second := newTestCA(t, "first"), newTestCA(t, "second")
	dir := t.TempDir()
	publish := func(version string, ca *CA) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, version, "ca.crt"), caPEM(ca))
		if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish("..v1", first)
	file := filepath.Join(dir, "ca.crt")
	if err := os.Symlink(filepath.Join("..data", "ca.crt"), file); err != nil {
		t.Fatal(err)
	}
	a, _ := newClientAuth(t, file)
	chainOf := func(ca *CA) []*x509.Certificate {
		kp, err := ca.Client("kube-apiserver", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return []*x509.Certificate{parsed(t, kp.CertPEM)}
	}
	if err := a.Verify(chainOf(first)); err != nil {
		t.Fatalf("the first CA's caller was refused: %v", err)
	}
	publish("..v2", second)
	a.Reload()
	if err := a.Verify(chainOf(second)); err != nil {
		t.Fatalf("after the update, the second CA's caller was refused: %v", err)
	}
	if err := a.Verify(chainOf(first)); err == nil {
		t.Fatal("after the update, the first CA's caller was still accepted")
	}
}

// TestClientAuthNamesUnderNameConstraints: a CA may delegate to a sub-CA
// constrained to some DNS names. x509 checks those constraints against a
// certificate's DNS names but never its common name, so a common name alone
// must not let the sub-CA vouch for a name outside them.
func TestClientAuthNamesUnderNameConstraints(t *testing.T) {
	root := newTestCA(t, "webhook-clients")
	tmpl := template("team-a", time.Hour)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	tmpl.PermittedDNSDomains = []string{"team-a.example.com"}
	kp, err := root.sign(tmpl, "sub-CA")
	if err != nil {
		t.Fatal(err)
	}
	teamA, err := ParseCA(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(ca *CA, cn string, dnsNames ...string) []*x509.Certificate {
		tmpl := template(cn, time.Hour)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = dnsNames
		kp, err := ca.sign(tmpl, "client")
		if err != nil {
			t.Fatal(err)
		}
		chain := []*x509.Certificate{parsed(t, kp.CertPEM)}
		if ca != root {
			chain = append(chain, ca.Cert)
		}
		return chain
	}
	cases := []struct {
		name     string
		chain    []*x509.Certificate
		accepted bool
	}{
		{"an allowed common name the unconstrained CA signed is accepted", leaf(root, "kube-apiserver"), true},
		{"an allowed common name a name-constrained sub-CA signed is refused", leaf(teamA, "kube-apiserver"), false},
		{"an allowed common name a name-constrained sub-CA signed with a DNS name inside its constraints is refused", leaf(teamA, "kube-apiserver", "x.team-a.example.com"), false},
		{"an allowed DNS name outside a sub-CA's constraints is refused", leaf(teamA, "x", "kube-apiserver"), false},
		{"an allowed DNS name inside a sub-CA's constraints is accepted", leaf(teamA, "x", "api.team-a.example.com"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := clientAuthOf(t, root, "kube-apiserver", "api.team-a.example.com")
			if err := a.Verify(tc.chain); (err == nil) != tc.accepted {
				t.Fatalf("accepted = %v (%v), want %v", err == nil, err, tc.accepted)
			}
		})
	}
}
