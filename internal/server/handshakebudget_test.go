package server

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
)

// lockedBuffer collects a server's error log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rsaChain is a chain of depth certificates, each CA signing the next, with
// RSA-4096 keys: about the largest chain an API server could present, and
// the leaf's key.
func rsaChain(t *testing.T, depth int) (chain [][]byte, rootPEM []byte, leafKey *rsa.PrivateKey) {
	t.Helper()
	var parent *x509.Certificate
	var parentKey *rsa.PrivateKey
	// One key for every level: the sizes are what matter, and RSA-4096
	// keys take a second each to make.
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for i := range depth {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "level-" + string(rune('a'+i))},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if i < depth-1 {
			tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		} else {
			tmpl.Subject.CommonName, tmpl.KeyUsage = "kube-apiserver", x509.KeyUsageDigitalSignature
		}
		signer, signerKey := tmpl, key
		if parent != nil {
			signer, signerKey = parent, parentKey
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		// Sent leaf first, then the intermediates; the root is the CA file's.
		if i > 0 {
			chain = append([][]byte{der}, chain...)
		}
		parent, parentKey, leafKey = c, key, key
	}
	return chain, rootPEM, leafKey
}

// TestWebhookConnectionsHaveAHandshakeBudget: with client certificates on,
// crypto/tls parses every certificate a caller sends (up to 256 KiB of them)
// before flinkgate's check can refuse the chain for its length; a
// connection may send only so much before its first request.
func TestWebhookConnectionsHaveAHandshakeBudget(t *testing.T) {
	chain, rootPEM, leafKey := rsaChain(t, 4)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	src, err := certs.WithClientAuth(staticSource{}, caFile, nil, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	pair, servingCA := servingPair(t)
	cfg := src.TLSConfig()
	cfg.Certificates = []tls.Certificate{pair}
	errs := &lockedBuffer{}
	srv := &http.Server{
		// Answers how many bytes of the body it read, or 500.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
		}),
		TLSConfig: cfg, ErrorLog: log.New(errs, "", 0), ConnState: markActive,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(handshakeBudgetListener(ln, testLimits(t, DefaultMaxConnections)), "", "") }()
	t.Cleanup(func() { srv.Close() })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCA)

	huge := make([][]byte, 0, 800)
	for len(huge)*len(chain[0]) < 250<<10 {
		huge = append(huge, chain[0])
	}
	untrusted := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if mf.GetName() == "flinkgate_webhook_client_refusals_total" && l.GetName() == "reason" && l.GetValue() == "untrusted" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		t.Fatal("no flinkgate_webhook_client_refusals_total{reason=untrusted}")
		return 0
	}
	cases := []struct {
		name     string
		version  uint16
		chain    [][]byte
		body     int
		answered bool
	}{
		{"over TLS 1.3 a caller with a four-certificate RSA-4096 chain sending a 3 MiB review is answered", tls.VersionTLS13, chain, 3 << 20, true},
		{"over TLS 1.2 a caller with a four-certificate RSA-4096 chain sending a 3 MiB review is answered", tls.VersionTLS12, chain, 3 << 20, true},
		{"over TLS 1.3 a caller sending 250 KiB of certificates is cut off before they are parsed", tls.VersionTLS13, huge, 10, false},
		{"over TLS 1.2 a caller sending 250 KiB of certificates is cut off before they are parsed", tls.VersionTLS12, huge, 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := untrusted()
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tc.version, MaxVersion: tc.version,
				Certificates: []tls.Certificate{{Certificate: tc.chain, PrivateKey: leafKey}}}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			resp, err := client.Post("https://"+ln.Addr().String()+"/validate", "application/json", bytes.NewReader(make([]byte, tc.body)))
			var answer []byte
			if err == nil {
				answer, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if tc.answered {
				if err != nil || resp.StatusCode != http.StatusOK || string(answer) != strconv.Itoa(tc.body) {
					t.Fatalf("not answered in full: %v %q (server: %s)", err, answer, errs.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("answered HTTP %d", resp.StatusCode)
			}
			// Had crypto/tls parsed them, flinkgate's check would have
			// refused the chain for its length, as untrusted.
			if after := untrusted(); after != before {
				t.Fatalf("the certificates were parsed and checked (untrusted refusals %v -> %v); server log: %s", before, after, errs.String())
			}
		})
	}
}
