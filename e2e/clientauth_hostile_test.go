//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/cluster"
)

// TestClientAuthClosesAKeptAliveConnectionWhoseCALeft: the API server keeps
// its connections open and busy, so removing a CA from the client CA file (a
// rotation away from a leaked one) must reach connections it already
// admitted, not only new handshakes. flinkgate polls the file every 2 s.
func TestClientAuthClosesAKeptAliveConnectionWhoseCALeft(t *testing.T) {
	e := sharedEnv(t)
	caFile := filepath.Join(t.TempDir(), "webhook-client-ca.crt")
	ca, err := os.ReadFile(e.c.WebhookClientCAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	s := ownFlinkgate(t, "clientauth-keepalive", "--webhook-client-ca-file="+caFile, "--webhook-client-names="+cluster.WebhookClientName)
	target := s.seedTarget(t)
	var dep corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(s.exampleDeployment(t, name("keepalive"), target)), &dep); err != nil {
		t.Fatal(err)
	}
	review := pipelineReview(t, "keepalive", &dep)

	// The API server's own certificate, on one connection kept alive.
	certFile, keyFile := e.c.WebhookClientCertFiles()
	apiserver, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(s.fg.CABundle()) {
		t.Fatal("the CA bundle holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{apiserver}}, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	post := func() (status int, reused bool, err error) {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.fg.WebhookURL()+"/validate", bytes.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, reused, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, reused, nil
	}
	if status, _, err := post(); err != nil || status != http.StatusOK {
		t.Fatalf("the API server's certificate was not answered: HTTP %d, %v", status, err)
	}

	other, err := certs.NewCA("the-next-webhook-client-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, other.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the kept-alive connection admitted under the removed CA to be refused", func() (bool, string) {
		status, reused, err := post()
		switch {
		case err != nil:
			t.Fatalf("the kept-alive connection failed before it was refused: %v", err)
		case !reused:
			t.Fatal("the connection admitted under the old CA was not reused; the test checks nothing")
		case status != http.StatusOK && status != http.StatusForbidden:
			t.Fatalf("HTTP %d, want 200 until the reload and 403 after", status)
		}
		return status == http.StatusForbidden, "still answered"
	})
	// Its connection closed, the caller must go through a handshake, which
	// the new CA file refuses.
	if _, _, err := post(); err == nil {
		t.Fatal("a new connection with a certificate of the removed CA was answered")
	}
}
