package server

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
)

// TestClientAuthRechecksKeptAliveConnections: the API server keeps its
// connections open and busy, so a connection admitted under a CA must not
// outlive that CA's removal (a rotation away from a leaked CA) in service.
func TestClientAuthRechecksKeptAliveConnections(t *testing.T) {
	cases := []struct {
		name string
		// rotate replaces the client CA file between the two requests;
		// false leaves it.
		rotate     bool
		wantStatus int
	}{
		{"a second request on a kept-alive connection is answered while the caller's CA is still trusted", false, http.StatusOK},
		{"a second request on a kept-alive connection is refused once the caller's CA has left the CA file", true, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clients := mustCA(t, "webhook-clients")
			file := filepath.Join(t.TempDir(), "client-ca.crt")
			if err := os.WriteFile(file, clients.CertPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			src, err := certs.WithClientAuth(staticSource{}, file, nil, zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(webhookGuard(src.Auth, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "answered") }), zap.NewNop()))
			srv.TLS = src.TLSConfig()
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			t.Cleanup(srv.Close)

			kp, err := clients.Client("kube-apiserver", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			tr := srv.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
			client := &http.Client{Transport: tr}
			get := func() (status int, reused bool) {
				t.Helper()
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
				}), http.MethodGet, srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, reused
			}
			if status, _ := get(); status != http.StatusOK {
				t.Fatalf("first request: HTTP %d, want 200", status)
			}
			if tc.rotate {
				if err := os.WriteFile(file, mustCA(t, "the-next-ca").CertPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				src.Auth.Reload()
			}
			status, reused := get()
			if !reused {
				t.Fatal("the second request did not reuse the connection; the case tests nothing")
			}
			if status != tc.wantStatus {
				t.Fatalf("second request: HTTP %d, want %d", status, tc.wantStatus)
			}
		})
	}
}

func mustCA(t *testing.T, name string) *certs.CA {
	t.Helper()
	ca, err := certs.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// staticSource is a certs.Source whose certificate httptest supplies.
type staticSource struct{}

func (staticSource) TLSConfig() *tls.Config  { return &tls.Config{MinVersion: tls.VersionTLS12} }
func (staticSource) Ready() error            { return nil }
func (staticSource) Run(ctx context.Context) { <-ctx.Done() }
