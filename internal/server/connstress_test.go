package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"flinkgate.io/flinkgate/certs"
)

// shutdownServer is limitedServer with its http.Server, so a test can shut
// it down itself.
func shutdownServer(t *testing.T, limits *ConnLimits) (addr string, bl *budgetListener, roots *x509.CertPool, srv *http.Server) {
	t.Helper()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bl = handshakeBudgetListener(ln, limits).(*budgetListener)
	srv = &http.Server{
		Handler:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{pair}},
		ConnState:    markActive,
		ErrorLog:     log.New(io.Discard, "", 0),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() { _ = srv.ServeTLS(bl, "", "") }()
	t.Cleanup(func() { srv.Close() })
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(b.CACert)
	return ln.Addr().String(), bl, roots, srv
}

// churn is one client's life on the webhook port; which says which.
func churn(addr string, roots *x509.CertPool, which int) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return // closed at once by a full listener, or a refused dial
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	switch which % 6 {
	case 0: // dials and leaves
	case 1: // sends what is not TLS
		_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		_, _ = c.Read(make([]byte, 64))
	case 2: // finishes a handshake and leaves
		_ = tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}).Handshake()
	case 3, 4: // sends two requests on one connection (4: and half of a third)
		tc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		for range 2 {
			if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return
			}
			if _, err := tc.Read(make([]byte, 512)); err != nil {
				return
			}
		}
		if which%6 == 4 {
			_, _ = io.WriteString(tc, "GET / HTTP/1.1\r\nHo")
		}
		// Idles a while, holding its place.
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		_, _ = c.Read(make([]byte, 1))
	case 5: // stalls a while, unless closed for a newer one
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, _ = c.Read(make([]byte, 1))
	}
}

func TestWebhookConnectionCountsReturnToZero(t *testing.T) {
	t.Run("after many connections that stall, fail their handshake, send requests and leave at once, the listener counts none open", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 4, closed: testLimits(t, 4).closed}
		addr, l, roots, _ := shutdownServer(t, limits)
		flood := func() {
			var wg sync.WaitGroup
			for g := range 48 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 25 {
						churn(addr, roots, g+i)
					}
				}()
			}
			wg.Wait()
		}
		flood()
		// Then with every place held by a kept-alive connection, so new
		// ones are closed over the limit.
		var kept []*http.Transport
		for range 4 {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxConnsPerHost: 1}
			kept = append(kept, tr)
			get(t, &http.Client{Transport: tr, Timeout: 10 * time.Second}, addr)
		}
		flood()
		for _, tr := range kept {
			tr.CloseIdleConnections()
		}
		waitCounts(t, l, 0, 0)
		t.Logf("closed for the bounds: %v new, %v over the limit", testutil.ToFloat64(limits.closed.WithLabelValues("unproven")), testutil.ToFloat64(limits.closed.WithLabelValues("over_limit")))
	})
	t.Run("connections open when the server shuts down give back their places", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 8, maxTotal: 24, closed: testLimits(t, 24).closed}
		addr, l, roots, srv := shutdownServer(t, limits)
		for range 4 {
			keptAlive(t, addr, roots)
		}
		for range 6 {
			stalled(t, addr)
		}
		waitCounts(t, l, 6, 10)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		// Shutdown closes idle connections at once, and those that sent
		// nothing after 5 s.
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("shutdown did not drain: %v", err)
		}
		waitCounts(t, l, 0, 0)
	})
}
