package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Proxy is a round-robin TCP proxy standing in for a Service in front of
// several flinkgate replicas: each accepted connection goes to the next
// backend, skipping backends that refuse, so requests of one admission
// (or of a create and a racing delete) can reach different processes. It
// passes TLS through untouched.
type Proxy struct {
	ln       net.Listener
	backends []string

	mu     sync.Mutex
	next   int
	conns  map[string]int // accepted connections per backend
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to the backends
// (host:port).
func StartProxy(backends ...string) (*Proxy, error) {
	if len(backends) == 0 {
		return nil, errors.New("start proxy: no backends")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start proxy: %w", err)
	}
	p := &Proxy{ln: ln, backends: backends, conns: map[string]int{}, open: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the proxy's base URL for webhooks (the serving certificate covers
// 127.0.0.1).
func (p *Proxy) URL() string {
	return "https://127.0.0.1:" + strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port)
}

// Connections returns how many connections went to each backend.
func (p *Proxy) Connections() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.conns))
	for k, v := range p.conns {
		out[k] = v
	}
	return out
}

// Close stops accepting, closes every open connection and waits for the
// copying goroutines.
func (p *Proxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.forward(in)
		}()
	}
}

func (p *Proxy) forward(in net.Conn) {
	defer in.Close()
	out, backend := p.dial()
	if out == nil {
		return
	}
	defer out.Close()
	if !p.track(in, out) {
		return
	}
	defer p.untrack(in, out)
	p.mu.Lock()
	p.conns[backend]++
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close so the other direction can finish its reply.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// dial tries each backend once, starting with the next in turn.
func (p *Proxy) dial() (net.Conn, string) {
	p.mu.Lock()
	start := p.next
	p.next = (p.next + 1) % len(p.backends)
	p.mu.Unlock()
	for i := range p.backends {
		b := p.backends[(start+i)%len(p.backends)]
		c, err := net.DialTimeout("tcp", b, time.Second)
		if err == nil {
			return c, b
		}
	}
	return nil, ""
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.open[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.open, c)
	}
}
