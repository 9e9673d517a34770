package main

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"flinkgate.io/flinkgate/webhook"
)

// handshakeBudget bounds what a webhook connection may send until the header
// of its first request is in: the TLS handshake and the records carrying
// that header. With client
// certificates on, crypto/tls parses every certificate a caller sends, up to
// 256 KiB of them (about 10 ms of CPU for 700 small ones, twelve times a
// refused handshake's), before certs.MaxClientChain can refuse the chain.
// The API server's handshake, with four RSA-4096 certificates, and its
// request's first TLS record (at most 16 KiB) come to less than half of this.
const handshakeBudget = 64 << 10

var errHandshakeBudget = errors.New("the caller sent more than 64 KiB before the header of its first request")

// handshakeBudgetListener gives each connection handshakeBudget until
// webhookConnState sees the header of its first request.
func handshakeBudgetListener(ln net.Listener) net.Listener { return budgetListener{ln} }

type budgetListener struct{ net.Listener }

func (l budgetListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &budgetConn{Conn: c}, nil
}

// budgetConn is read by one goroutine at a time (crypto/tls's), and lifted
// by another (the server's, through ConnState); hence the atomics.
type budgetConn struct {
	net.Conn
	read   atomic.Int64
	lifted atomic.Bool
}

func (c *budgetConn) Read(p []byte) (int, error) {
	if c.lifted.Load() {
		return c.Conn.Read(p)
	}
	left := handshakeBudget - c.read.Load()
	if left <= 0 {
		return 0, errHandshakeBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// webhookConnState is the webhook listener's ConnState: net/http reports a
// connection active once its first request's header is read, which lifts
// its handshake budget.
func webhookConnState(c net.Conn, s http.ConnState) {
	if s == http.StateActive {
		if tc, ok := c.(*tls.Conn); ok {
			if bc, ok := tc.NetConn().(*budgetConn); ok {
				bc.lifted.Store(true)
			}
		}
	}
	webhook.ConnState(c, s)
}
