package main

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/webhook"
)

// servingPair is a new serving certificate for 127.0.0.1 and its CA.
func servingPair(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pair, b.CACert
}

// tlsServer serves h with a certificate for 127.0.0.1 and returns its URL and CA.
func tlsServer(t *testing.T, h http.Handler) (string, []byte) {
	t.Helper()
	pair, ca := servingPair(t)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, ca
}

// clientAuthServer serves h as flinkgate does with --webhook-client-ca-file.
func clientAuthServer(t *testing.T, maxVersion uint16) (string, []byte) {
	t.Helper()
	return clientAuthServerWithCAFile(t, maxVersion, func(ca *certs.CA) []byte { return ca.CertPEM })
}

// clientAuthServerWithCAFile is clientAuthServer with the client CA file
// caFile writes.
func clientAuthServerWithCAFile(t *testing.T, maxVersion uint16, caFile func(*certs.CA) []byte) (string, []byte) {
	t.Helper()
	pair, serverCA := servingPair(t)
	clients, err := certs.NewCA("webhook-clients", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(file, caFile(clients), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := certs.NewClientAuth(file, nil, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(flinkgateHandler(t))
	srv.TLS = auth.Apply(&tls.Config{Certificates: []tls.Certificate{pair}, MaxVersion: maxVersion})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, serverCA
}

func TestProbeExpectingClientAuth(t *testing.T) {
	cases := []struct {
		name      string
		server    func(t *testing.T) (string, []byte)
		wantError string
	}{
		{"The probe passes when a TLS 1.3 server refuses it for want of a client certificate.", func(t *testing.T) (string, []byte) { return clientAuthServer(t, 0) }, ""},
		{"The probe passes when a TLS 1.2 server refuses it for want of a client certificate.", func(t *testing.T) (string, []byte) { return clientAuthServer(t, tls.VersionTLS12) }, ""},
		{"The probe fails when the server lets it in without a client certificate.", func(t *testing.T) (string, []byte) { return tlsServer(t, flinkgateHandler(t)) }, "is --webhook-client-ca-file set?"},
		{"The probe fails when the server refuses every caller, the API server too, because its client CA file holds a leaf certificate instead of a CA.", func(t *testing.T) (string, []byte) {
			return clientAuthServerWithCAFile(t, 0, func(ca *certs.CA) []byte {
				kp, err := ca.Client("kube-apiserver", nil, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				return kp.CertPEM
			})
		}, "its webhook client CA is not loaded"},
		{"The probe fails when another CA signed the serving certificate, even if the server would refuse it.", func(t *testing.T) (string, []byte) {
			url, _ := clientAuthServer(t, 0)
			_, other := tlsServer(t, flinkgateHandler(t))
			return url, other
		}, "certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, ca := tc.server(t)
			var out strings.Builder
			err := probeWebhooks(t.Context(), []string{"--url=" + url, "--expect-client-auth", "--ca-bundle-base64=" + base64.StdEncoding.EncodeToString(ca)}, &out)
			if tc.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), "refused a caller without the API server's client certificate") {
					t.Errorf("output %q does not report the refusal", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantError)
			}
		})
	}
}

func flinkgateHandler(t *testing.T) http.Handler {
	t.Helper()
	s, err := webhook.NewServer(webhook.Config{PlatformNamespace: "flink-platform"})
	if err != nil {
		t.Fatal(err)
	}
	return s.Handler()
}

func TestProbe(t *testing.T) {
	cases := []struct {
		name      string
		args      func(t *testing.T) []string
		wantError string
	}{
		{
			name: "The probe passes against flinkgate's handlers over TLS verified with --ca-file.",
			args: func(t *testing.T) []string {
				url, ca := tlsServer(t, flinkgateHandler(t))
				path := filepath.Join(t.TempDir(), "ca.crt")
				if err := os.WriteFile(path, ca, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"--url=" + url, "--ca-file=" + path}
			},
		},
		{
			name: "The probe passes with the CA given as a base64 caBundle.",
			args: func(t *testing.T) []string {
				url, ca := tlsServer(t, flinkgateHandler(t))
				return []string{"--url=" + url + "/", "--ca-bundle-base64=" + base64.StdEncoding.EncodeToString(ca)}
			},
		},
		{
			name: "The probe fails when another CA signed the serving certificate.",
			args: func(t *testing.T) []string {
				url, _ := tlsServer(t, flinkgateHandler(t))
				_, other := tlsServer(t, flinkgateHandler(t))
				return []string{"--url=" + url, "--ca-bundle-base64=" + base64.StdEncoding.EncodeToString(other)}
			},
			wantError: "certificate",
		},
		{
			name: "The probe fails when the server answers without the request's uid.",
			args: func(t *testing.T) []string {
				url, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"other","allowed":true}}`)
				}))
				return []string{"--url=" + url, "--ca-bundle-base64=" + base64.StdEncoding.EncodeToString(ca)}
			},
			wantError: "does not respond to request",
		},
		{
			name: "The probe fails on an HTTP error and shows the body.",
			args: func(t *testing.T) []string {
				url, ca := tlsServer(t, http.NotFoundHandler())
				return []string{"--url=" + url, "--ca-bundle-base64=" + base64.StdEncoding.EncodeToString(ca)}
			},
			wantError: "HTTP 404",
		},
		{
			name:      "The probe needs exactly one source of the CA.",
			args:      func(*testing.T) []string { return []string{"--url=https://127.0.0.1:1"} },
			wantError: "exactly one of --ca-file and --ca-bundle-base64",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			err := probeWebhooks(t.Context(), tc.args(t), &out)
			if tc.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out.String(), "/mutate answered") || !strings.Contains(out.String(), "/validate answered") {
					t.Errorf("output %q does not report both webhooks", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantError)
			}
		})
	}
}
