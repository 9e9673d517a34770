package server

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from the loopback address from,
// so one test can have callers at several addresses.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWebhookConnectionFloodsCloseTheirOwnConnections(t *testing.T) {
	t.Run("a new connection slower to send its request than a flood from another address is to fill the bound on new connections is not closed", func(t *testing.T) {
		// As an API server behind a tunnel that takes tens of milliseconds
		// per round trip, while a pod opens thousands of connections a second.
		limits := &ConnLimits{maxNew: 8, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, roots := limitedServer(t, limits)
		slow := dialFrom(t, "127.0.0.2", addr)
		waitCounts(t, l, 1, 1)
		for range 20 {
			dialFrom(t, "127.0.0.1", addr)
		}
		waitClosed(t, limits, "unproven", 13)
		tc := tls.Client(slow, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("the slow caller's connection was closed for the flood: %v", err)
		}
		if _, err := tc.Read(make([]byte, 512)); err != nil {
			t.Fatalf("the slow caller got no answer: its connection was closed for the flood: %v", err)
		}
	})
	t.Run("when addresses hold as many new connections each, the oldest of them all is closed", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 4, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, _ := limitedServer(t, limits)
		var conns []net.Conn
		for i, from := range []string{"127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"} {
			conns = append(conns, dialFrom(t, from, addr))
			waitCounts(t, l, i+1, i+1)
		}
		dialFrom(t, "127.0.0.8", addr)
		waitClosed(t, limits, "unproven", 1)
		if !closedByServer(conns[0]) {
			t.Error("the oldest connection is still open")
		}
		for i, c := range conns[1:] {
			if closedByServer(c) {
				t.Errorf("connection %d of 5 was closed; only the oldest should be", i+2)
			}
		}
	})
	t.Run("when every new connection comes from one address, the oldest is closed", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 2, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, _ := limitedServer(t, limits)
		first := dialFrom(t, "127.0.0.3", addr)
		waitCounts(t, l, 1, 1)
		second := dialFrom(t, "127.0.0.3", addr)
		waitCounts(t, l, 2, 2)
		dialFrom(t, "127.0.0.3", addr)
		waitClosed(t, limits, "unproven", 1)
		if !closedByServer(first) {
			t.Error("the oldest connection is still open")
		}
		if closedByServer(second) {
			t.Error("the second connection was closed; only the oldest should be")
		}
	})
}

func TestWebhookConnectionsBecomeActiveWithTheirFirstHeader(t *testing.T) {
	handshaken := func(t *testing.T, addr string, roots *x509.CertPool) *tls.Conn {
		t.Helper()
		tc := tls.Client(stalled(t, addr), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc
	}
	t.Run("a connection whose first request waits on Expect: 100-continue becomes active once its header is in", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, roots := limitedServer(t, limits)
		tc := handshaken(t, addr, roots)
		waitCounts(t, l, 1, 1)
		if _, err := io.WriteString(tc, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		waitCounts(t, l, 0, 1)
	})
	t.Run("a connection that sends a header net/http refuses is closed and gives back its place, though refusing makes it active", func(t *testing.T) {
		limits := &ConnLimits{maxNew: 3, maxTotal: 100, closed: testLimits(t, 100).closed}
		addr, l, roots := limitedServer(t, limits)
		tc := handshaken(t, addr, roots)
		waitCounts(t, l, 1, 1)
		if _, err := io.WriteString(tc, "NOT HTTP\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		waitCounts(t, l, 0, 0)
	})
}
