package webhook

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// This file holds the buffers a connection keeps between its requests.

// maxConnBuffer bounds each buffer (body, patch) a connection keeps
// between its requests: a usual review fits, and an idle connection holds
// no more than about what net/http and TLS already hold for it.
const maxConnBuffer = 16 << 10

// maxKeptBytes bounds what all connections keep between requests together:
// about 1,000 connections' usual reviews. Any pod can open connections, and
// each one that sent a review of 16 KiB would otherwise keep 32 KiB until
// it closes; beyond the bound, requests allocate their buffers as before.
const maxKeptBytes = 32 << 20

// connBuffers are the buffers a Server's connections keep between their
// requests.
type connBuffers struct {
	kept  atomic.Int64 // the capacities of every connection's buffers
	conns sync.Map     // net.Conn → *connBuffer, to give back kept bytes at close
}

// connBuffer is a connection's body and patch buffers. An HTTP/1.1
// connection serves one request at a time, and a request's buffers are
// free once its handler returns: the review keeps no bytes of the body
// (wire's TestDecodedReviewsKeepNoBytesOfTheBody), the patch is only
// written into the answer, and the answer written over the body is copied
// by ResponseWriter.Write.
type connBuffer struct {
	buf, patch []byte // their capacities count in all.kept
	all        *connBuffers
}

// keep makes b (emptied) the connection's buffer in *slot when it is larger
// than the one kept there, at most maxConnBuffer, and all connections
// together stay within maxKeptBytes.
func (cb *connBuffer) keep(slot *[]byte, b []byte) {
	grow := int64(cap(b) - cap(*slot))
	if cap(b) > maxConnBuffer || grow <= 0 {
		return
	}
	if cb.all.kept.Add(grow) > maxKeptBytes {
		cb.all.kept.Add(-grow)
		return
	}
	*slot = b[:0]
}

type connBufferKey struct{}

// ConnContext is an http.Server's ConnContext that gives each connection a
// body buffer reused by its requests, so a usual review allocates none. The
// http.Server must also use s.ConnState, which gives back what a closed
// connection kept.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	cb := &connBuffer{all: &s.conns}
	if c != nil {
		s.conns.conns.Store(c, cb)
	}
	return context.WithValue(ctx, connBufferKey{}, cb)
}

// ConnState is an http.Server's ConnState that gives back the bytes a
// closed connection kept.
func (s *Server) ConnState(c net.Conn, state http.ConnState) {
	if state != http.StateClosed && state != http.StateHijacked {
		return
	}
	if v, ok := s.conns.conns.LoadAndDelete(c); ok {
		cb := v.(*connBuffer)
		// Its requests are over: no handler of this connection runs.
		s.conns.kept.Add(-int64(cap(cb.buf) + cap(cb.patch)))
		cb.buf, cb.patch = nil, nil
	}
}

// connBufferOf is r's connection's buffer; nil without ConnContext or for
// a protocol that may serve requests of one connection at once.
func connBufferOf(r *http.Request) *connBuffer {
	if r.ProtoMajor != 1 {
		return nil
	}
	cb, _ := r.Context().Value(connBufferKey{}).(*connBuffer)
	return cb
}
