package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// pairSource serves one certificate.
type pairSource struct{ pair tls.Certificate }

func (s pairSource) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.pair}, MinVersion: tls.VersionTLS12}
}
func (pairSource) Ready() error            { return nil }
func (pairSource) Run(ctx context.Context) { <-ctx.Done() }

// running is a Server serving on loopback ports, as Run sees it.
type running struct {
	webhook, ops string // host:port
	client       *http.Client
	done         chan error // Run's result
}

// startServer runs a Server whose webhook answers "answered"; cfg's
// addresses are names the test's listen resolves to loopback ports.
func startServer(t *testing.T, ctx context.Context, cfg Config) *running {
	t.Helper()
	pair, ca := servingPair(t)
	cfg.WebhookAddr, cfg.MetricsAddr = "webhook", "ops"
	cfg.Certs, cfg.MaxConnections, cfg.Logger = pairSource{pair}, 16, zap.NewNop()
	cfg.Webhook = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "answered") })
	reg := prometheus.NewRegistry()
	cfg.Gatherer, cfg.Registerer = reg, reg
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	addrs := map[string]string{}
	bound := make(chan struct{}, 2)
	s.listen = func(name string) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			mu.Lock()
			addrs[name] = ln.Addr().String()
			mu.Unlock()
			bound <- struct{}{}
		}
		return ln, err
	}
	r := &running{done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	for range 2 {
		select {
		case <-bound:
		case err := <-r.done:
			t.Fatalf("Run ended before listening: %v", err)
		}
	}
	r.webhook, r.ops = addrs["webhook"], addrs["ops"]
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 5 * time.Second}
	t.Cleanup(r.client.CloseIdleConnections)
	return r
}

// readyz is /readyz's status and body.
func (r *running) readyz(t *testing.T) (int, string) {
	t.Helper()
	resp, err := r.client.Get("http://" + r.ops + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// admit posts to the webhook and says whether the answer closes its
// connection.
func (r *running) admit(t *testing.T) (closes bool, err error) {
	t.Helper()
	resp, err := r.client.Post("https://"+r.webhook+"/validate", "application/json", strings.NewReader("{}"))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "answered" {
		return false, errors.New("unexpected answer " + string(b))
	}
	return resp.Close, nil
}

func TestShutdownIsOrdered(t *testing.T) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	closing := make(chan error, 1)
	var r *running
	// The drain must outlast the checks made during it; they take
	// milliseconds.
	r = startServer(t, ctx, Config{Drain: 3 * time.Second, BeforeClose: func(context.Context) {
		_, err := r.admit(t)
		closing <- err
	}})
	t.Run("before the signal /readyz says ok and answers keep their connection", func(t *testing.T) {
		if code, body := r.readyz(t); code != http.StatusOK || body != "ok" {
			t.Fatalf("/readyz: %d %q, want 200 ok", code, body)
		}
		if closes, err := r.admit(t); err != nil || closes {
			t.Fatalf("admission: closes=%v err=%v, want an answer on a kept-alive connection", closes, err)
		}
	})
	stop()
	t.Run("at the signal /readyz says shutting down at once, and the webhook answers on, closing each answer's connection", func(t *testing.T) {
		waitUntil(t, 5*time.Second, func() (bool, string) {
			code, body := r.readyz(t)
			return code == http.StatusServiceUnavailable && body == "shutting down", fmt.Sprintf("/readyz: %d %q, want 503 shutting down", code, body)
		})
		if closes, err := r.admit(t); err != nil || !closes {
			t.Fatalf("admission while draining: closes=%v err=%v, want an answer that closes its connection", closes, err)
		}
	})
	t.Run("after the drain BeforeClose runs while the webhook still answers", func(t *testing.T) {
		if err := <-closing; err != nil {
			t.Fatalf("the webhook did not answer during BeforeClose: %v", err)
		}
	})
	t.Run("then the listeners close and Run returns nil", func(t *testing.T) {
		if err := <-r.done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if _, err := net.DialTimeout("tcp", r.webhook, time.Second); err == nil {
			t.Error("the webhook port still accepts connections")
		}
	})
}

func TestAListenerThatCannotListenEndsRun(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	pair, _ := servingPair(t)
	reg := prometheus.NewRegistry()
	s, err := New(Config{WebhookAddr: "127.0.0.1:0", MetricsAddr: taken.Addr().String(), MaxConnections: 16,
		Certs: pairSource{pair}, Webhook: http.NotFoundHandler(), Gatherer: reg, Registerer: reg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "listener stopped") {
		t.Fatalf("Run: %v, want a listener stopped error", err)
	}
}
