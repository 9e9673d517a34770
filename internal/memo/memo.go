// Package memo remembers the answers of slow questions for a short time and
// asks each question once however many callers wait for it, detached from
// the first caller's cancellation, in a bounded number of entries.
package memo

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Options configure a Memo.
type Options[V any] struct {
	// TTL says how long an answer is kept; 0 or less keeps it not at all.
	TTL func(V, error) time.Duration
	// Timeout bounds one shared question, whoever waits for it.
	Timeout time.Duration
	// Max bounds the entries kept (at least 1); beyond it, expired answers
	// are dropped, then arbitrary ones, which only costs a repeated question.
	Max int
	// Now is the clock (default time.Now); tests replace it.
	Now func() time.Time
	// Joined, if set, is called once a caller has joined or started a
	// question; tests use it to know callers overlap without sleeping.
	Joined func()
}

// Memo is safe for concurrent use.
type Memo[V any] struct {
	opts   Options[V]
	flight singleflight.Group
	mu     sync.Mutex
	kept   map[string]kept[V]
}

type kept[V any] struct {
	v       V
	expires time.Time
}

// New returns an empty Memo.
func New[V any](opts Options[V]) *Memo[V] {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Max = max(opts.Max, 1)
	return &Memo[V]{opts: opts, kept: map[string]kept[V]{}}
}

// Recall returns the kept answer for key, if it has not expired.
func (m *Memo[V]) Recall(key string) (V, bool) {
	m.mu.Lock()
	k, ok := m.kept[key]
	m.mu.Unlock()
	if ok && m.opts.Now().Before(k.expires) {
		return k.v, true
	}
	var zero V
	return zero, false
}

// Ask asks ask for key's answer, sharing one question among concurrent
// callers of the same key, and keeps the answer for TTL. The question runs
// detached from ctx's cancellation, bounded by Timeout, so that the first
// caller's end does not fail the others; if ctx ends first, Ask returns
// ctx's error and the question goes on for whoever else waits.
func (m *Memo[V]) Ask(ctx context.Context, key string, ask func(context.Context) (V, error)) (V, error) {
	detached := context.WithoutCancel(ctx)
	ch := m.flight.DoChan(key, func() (any, error) {
		qctx, cancel := context.WithTimeout(detached, m.opts.Timeout)
		defer cancel()
		v, err := ask(qctx)
		m.keep(key, v, err)
		return v, err
	})
	if m.opts.Joined != nil {
		m.opts.Joined()
	}
	select {
	case res := <-ch:
		v, _ := res.Val.(V)
		return v, res.Err
	case <-ctx.Done():
		var zero V
		return zero, context.Cause(ctx)
	}
}

func (m *Memo[V]) keep(key string, v V, err error) {
	ttl := m.opts.TTL(v, err)
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 {
		delete(m.kept, key)
		return
	}
	if _, ok := m.kept[key]; !ok && len(m.kept) >= m.opts.Max {
		for k, e := range m.kept {
			if !now.Before(e.expires) {
				delete(m.kept, k)
			}
		}
		// Map order is random, so this drops arbitrary live answers.
		for k := range m.kept {
			if len(m.kept) < m.opts.Max {
				break
			}
			delete(m.kept, k)
		}
	}
	m.kept[key] = kept[V]{v: v, expires: now.Add(ttl)}
}

// Len is the number of kept answers, expired or not.
func (m *Memo[V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.kept)
}
