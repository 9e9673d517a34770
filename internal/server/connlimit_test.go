package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"flinkgate.io/flinkgate/certs"
)

// testLimits are connection bounds with an unregistered metric.
func testLimits(t *testing.T, maxTotal int) *ConnLimits {
	t.Helper()
	l, err := NewConnLimits(maxTotal, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// limitedServer serves 200 behind the webhook listener's bounds.
func limitedServer(t *testing.T, limits *ConnLimits) (addr string, bl *budgetListener, roots *x509.CertPool) {
	t.Helper()
	pair, serverCA := servingPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bl = handshakeBudgetListener(ln, limits).(*budgetListener)
	srv := &http.Server{
		Handler:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{pair}},
		ConnState:    markActive,
		ErrorLog:     log.New(io.Discard, "", 0),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() { _ = srv.ServeTLS(bl, "", "") }()
	t.Cleanup(func() { srv.Close() })
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(serverCA)
	return ln.Addr().String(), bl, roots
}

// counts are the listener's new (no request yet) and open connections.
func (l *budgetListener) counts() (fresh, open int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nNew, l.open
}

// waitUntil asks cond every 5 ms until it holds, failing t with cond's
// last word if timeout passes first.
func waitUntil(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatal(why)
		}
		<-tick.C
	}
}

// waitCounts polls until the listener counts want.
func waitCounts(t *testing.T, l *budgetListener, fresh, open int) {
	t.Helper()
	waitUntil(t, 10*time.Second, func() (bool, string) {
		u, o := l.counts()
		return u == fresh && o == open, fmt.Sprintf("listener counts %d new, %d open; want %d, %d", u, o, fresh, open)
	})
}

// waitClosed polls until the listener has closed n connections for reason.
func waitClosed(t *testing.T, limits *ConnLimits, reason string, n float64) {
	t.Helper()
	waitUntil(t, 10*time.Second, func() (bool, string) {
		got := testutil.ToFloat64(limits.closed.WithLabelValues(reason))
		return got == n, fmt.Sprintf("closed{reason=%q} = %v, want %v", reason, got, n)
	})
}

// stalled opens a TCP connection that sends nothing, once the listener has
// taken it in (open counts it).
func stalled(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer says whether the server closed c: a read ends with EOF (or
// a reset) at once, where an open connection times out.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var nerr net.Error
	return err != nil && !(errors.As(err, &nerr) && nerr.Timeout())
}

// keptAlive is a client whose one connection has had one request answered
// and is kept alive (idle).
func keptAlive(t *testing.T, addr string, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get(t, client, addr)
	return client
}

func get(t *testing.T, client *http.Client, addr string) {
	t.Helper()
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestWebhookConnectionsAreBounded(t *testing.T) {
	t.Run("when the bound on new connections is reached, the oldest connection that sent no request is closed, and the newer ones stay", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, _ := limitedServer(t, limits)
		var conns []net.Conn
		for i := range 3 {
			conns = append(conns, stalled(t, addr))
			waitCounts(t, l, i+1, i+1)
		}
		conns = append(conns, stalled(t, addr))
		waitClosed(t, limits, "unproven", 1)
		waitCounts(t, l, 3, 3)
		if !closedByServer(conns[0]) {
			t.Error("the oldest stalled connection is still open")
		}
		for i, c := range conns[1:] {
			if closedByServer(c) {
				t.Errorf("stalled connection %d of 4 was closed; only the oldest should be", i+2)
			}
		}
	})
	t.Run("a connection that has sent a request is not closed to make room for new ones", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, roots := limitedServer(t, limits)
		client := keptAlive(t, addr, roots)
		waitCounts(t, l, 0, 1)
		for range 10 {
			stalled(t, addr)
		}
		waitCounts(t, l, 3, 4)
		var reused bool
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}), http.MethodGet, "https://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("the kept-alive connection's next request failed: %v", err)
		}
		resp.Body.Close()
		if !reused {
			t.Error("the next request needed a new connection: the kept-alive one was closed")
		}
	})
	t.Run("when all allowed connections are open and have sent requests, a new connection is closed at once", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 4, closed: testLimits(t, 4).closed}
		addr, l, roots := limitedServer(t, limits)
		for range 4 {
			keptAlive(t, addr, roots)
		}
		waitCounts(t, l, 0, 4)
		c := stalled(t, addr)
		waitClosed(t, limits, "over_limit", 1)
		if !closedByServer(c) {
			t.Error("a fifth connection was kept open beyond the bound of 4")
		}
		waitCounts(t, l, 0, 4)
	})
	t.Run("closed connections give back their place", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 4, closed: testLimits(t, 4).closed}
		addr, l, _ := limitedServer(t, limits)
		c := stalled(t, addr)
		waitCounts(t, l, 1, 1)
		c.Close()
		waitCounts(t, l, 0, 0)
	})
}

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
