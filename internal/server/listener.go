package server

// The webhook listener's own bounds, below HTTP: what a connection may send
// before its first request, and how many connections stay open. A new
// connection is one that has not yet sent the header of a request
// (net/http's StateNew); it becomes active with that header, and is then
// active or idle (kept alive) until it closes.

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// handshakeBudget bounds what a webhook connection may send until the header
// of its first request is in: the TLS handshake and the records carrying
// that header. With client certificates on, crypto/tls parses every certificate a caller sends, up to
// 256 KiB of them (about 10 ms of CPU for 700 small ones, twelve times a
// refused handshake's), before certs.MaxClientChain can refuse the chain.
// The API server's handshake, with four RSA-4096 certificates, and its
// request's first TLS record (at most 16 KiB) come to less than half of this.
const handshakeBudget = 64 << 10

var errHandshakeBudget = errors.New("the caller sent more than 64 KiB before the header of its first request")

// Connection bounds. Any pod can open connections, and each costs memory
// while it lives: about 12 KiB before its TLS handshake, 41 KiB after it
// (goroutine stack, TLS and HTTP buffers; measured with 8,000 connections),
// and up to about 60 KiB once it has sent a full TLS record (crypto/tls
// keeps a buffer that size). 8,000 connections that finished a handshake
// and then sent nothing took flinkgate from 32 to 352 MiB, beyond the
// chart's 256 MiB limit: a crash, and with the webhooks failing closed,
// every write of these objects refused.
const (
	// maxNew bounds the new connections (no request header yet): when it
	// is reached, the oldest of them from the address with the most is
	// closed. A caller that stalls (before, in or after its handshake) is;
	// the API server's new connection is not, however slow its round
	// trips, unless it is as many from one address as a flood's.
	maxNew = 1024
	// DefaultMaxConnections bounds all of them (--max-webhook-connections):
	// when it is reached with no new connection to close, the new one is
	// closed at once. Active and idle connections (those the API server
	// keeps alive) are not touched. An API server holds at most one per
	// admission it runs at once (600 by default; three of them, 1,800).
	// Idle connections that sent a request in a full TLS record cost about
	// 60 KiB: 4,096 of them took flinkgate's peak RSS to 263 MiB, past the
	// chart's 256 MiB limit; 2,048 keep it under 192 MiB
	// (TestProvenIdleFloodMemoryIsBounded in e2e).
	DefaultMaxConnections = 2048
)

// The reason label's values of flinkgate_webhook_connections_closed_total;
// "unproven" is the metric's name for a new connection.
const (
	closedNew       = "unproven"
	closedOverLimit = "over_limit"
)

// ConnLimits is what the webhook listener counts.
type ConnLimits struct {
	maxNew, maxTotal int
	// closed counts connections closed to keep the bounds, by which.
	closed *prometheus.CounterVec
}

// NewConnLimits bounds the webhook port to maxTotal connections and
// registers the count of those closed for it with reg (nil: none).
func NewConnLimits(maxTotal int, reg prometheus.Registerer) (*ConnLimits, error) {
	l := &ConnLimits{maxNew: min(maxNew, maxTotal), maxTotal: maxTotal,
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flinkgate_webhook_connections_closed_total",
			Help: "Webhook connections flinkgate closed to keep its connection bounds: the oldest that had not sent a request (unproven), or a new one while all allowed were open (over_limit).",
		}, []string{"reason"})}
	l.closed.WithLabelValues(closedNew)
	l.closed.WithLabelValues(closedOverLimit)
	if reg != nil {
		if err := reg.Register(l.closed); err != nil {
			return nil, fmt.Errorf("register connection metric: %w", err)
		}
	}
	return l, nil
}

// handshakeBudgetListener gives each connection handshakeBudget until
// markActive sees the header of its first request, and keeps the
// connection bounds.
func handshakeBudgetListener(ln net.Listener, limits *ConnLimits) net.Listener {
	return &budgetListener{Listener: ln, limits: limits}
}

type budgetListener struct {
	net.Listener
	limits *ConnLimits

	mu sync.Mutex
	// newConns holds, by remote address, the new connections, oldest
	// first: a flood from one pod closes its own, whatever the pace of the
	// API server's handshake.
	newConns map[netip.Addr]*list.List // of *budgetConn
	nNew     int
	open     int
	accepted uint64 // orders connections, for ties between addresses
}

// oldestOfBusiest is the oldest new connection of the address with the
// most (of the oldest such address on a tie, not the map's random pick);
// nil with none. l.mu is held. It walks at most maxNew addresses, and only
// when a bound is reached.
func (l *budgetListener) oldestOfBusiest() *budgetConn {
	var oldest *budgetConn
	n := 0
	for _, q := range l.newConns {
		front := q.Front().Value.(*budgetConn)
		if q.Len() > n || q.Len() == n && front.seq < oldest.seq {
			oldest, n = front, q.Len()
		}
	}
	return oldest
}

// remoteAddr is c's remote IP address; the zero Addr (one bucket) when it
// has none.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func (l *budgetListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		bc := &budgetConn{Conn: c, l: l, addr: remoteAddr(c)}
		var evict *budgetConn
		l.mu.Lock()
		if l.nNew > 0 && (l.nNew >= l.limits.maxNew || l.open >= l.limits.maxTotal) {
			evict = l.oldestOfBusiest()
			l.forget(evict)
		}
		full := l.open >= l.limits.maxTotal
		if !full {
			l.admit(bc)
		}
		l.mu.Unlock()
		if evict != nil {
			// Its server goroutine sees the read fail and ends.
			_ = evict.Conn.Close()
			l.limits.closed.WithLabelValues(closedNew).Inc()
		}
		if !full {
			return bc, nil
		}
		_ = c.Close()
		l.limits.closed.WithLabelValues(closedOverLimit).Inc()
	}
}

// admit counts c as open and new; l.mu is held.
func (l *budgetListener) admit(c *budgetConn) {
	if l.newConns == nil {
		l.newConns = map[netip.Addr]*list.List{}
	}
	q := l.newConns[c.addr]
	if q == nil {
		q = list.New()
		l.newConns[c.addr] = q
	}
	l.accepted++
	c.seq, c.elem, c.counted = l.accepted, q.PushBack(c), true
	l.nNew++
	l.open++
}

// forget takes c off the list of new connections and out of the count;
// l.mu is held.
func (l *budgetListener) forget(c *budgetConn) {
	l.unlist(c)
	if c.counted {
		c.counted = false
		l.open--
	}
}

// unlist takes c off the list of new connections; l.mu is held.
func (l *budgetListener) unlist(c *budgetConn) {
	if c.elem == nil {
		return
	}
	q := l.newConns[c.addr]
	q.Remove(c.elem)
	c.elem = nil
	l.nNew--
	if q.Len() == 0 {
		delete(l.newConns, c.addr)
	}
}

// budgetConn is read by one goroutine at a time (crypto/tls's), and lifted
// by another (the server's, through ConnState); hence the atomics.
type budgetConn struct {
	net.Conn
	read   atomic.Int64
	lifted atomic.Bool

	l       *budgetListener
	addr    netip.Addr    // its key in l.newConns
	seq     uint64        // its place in the order of accepting; guarded by l.mu
	elem    *list.Element // in l.newConns while new; guarded by l.mu
	counted bool          // in l.open; guarded by l.mu
}

// activate lifts the budget and takes the connection off the list of new
// ones; it still counts towards the total.
func (c *budgetConn) activate() {
	if c.lifted.Swap(true) {
		return // every request after the first
	}
	c.l.mu.Lock()
	c.l.unlist(c)
	c.l.mu.Unlock()
}

func (c *budgetConn) Close() error {
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
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

// markActive is the webhook listener's ConnState: net/http reports a
// connection active once its first request's header is read, which lifts
// its handshake budget.
func markActive(c net.Conn, s http.ConnState) {
	if s != http.StateActive {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		if bc, ok := tc.NetConn().(*budgetConn); ok {
			bc.activate()
		}
	}
}
