package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stats summarises one measurement.
type stats struct {
	requests int
	elapsed  time.Duration
	// latencies are sorted ascending.
	latencies []time.Duration
	// overloaded: a fixed-rate run stopped early because the server fell
	// too far behind; the figures cover the requests sent until then.
	overloaded bool
	// failed counts requests that got no answer (fixed rate: a timeout or
	// a connection error under overload) or an answer saying flinkgate
	// could not decide in time; they count as taking until then.
	failed int
}

func newStats(latencies []time.Duration, elapsed time.Duration) stats {
	slices.Sort(latencies)
	return stats{requests: len(latencies), elapsed: elapsed, latencies: latencies}
}

// rate is the completed requests per second.
func (s stats) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(s.requests) / s.elapsed.Seconds()
}

// percentile is the nearest-rank percentile p (0 < p <= 100): the smallest
// latency that at least p% of the requests did not exceed.
func (s stats) percentile(p float64) time.Duration {
	n := len(s.latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return s.latencies[rank-1]
}

func (s stats) String() string {
	note := ""
	if s.failed > 0 {
		note += fmt.Sprintf(", %d FAILED (unanswered or unavailable)", s.failed)
	}
	if s.overloaded {
		note += ", OVERLOADED: stopped early"
	}
	return fmt.Sprintf("%8.0f req/s  p50 %s  p90 %s  p99 %s  max %s  (%d requests%s)",
		s.rate(), ms(s.percentile(50)), ms(s.percentile(90)), ms(s.percentile(99)), ms(s.percentile(100)), s.requests, note)
}

func ms(d time.Duration) string { return fmt.Sprintf("%6.2fms", float64(d)/float64(time.Millisecond)) }

// target is one server under load.
type target struct {
	name   string
	url    string // full URL of the endpoint, e.g. https://127.0.0.1:8443/mutate
	expect expectation
	client *http.Client
	// proto is the protocol the server negotiated: HTTP/1.1 for both (see
	// newClient); the run fails if the two differ.
	proto atomic.Pointer[string]
	// verified is the last answer that passed the full check. The review
	// is the same every time, so a correct server answers the same bytes;
	// comparing with them checks every answer exactly while keeping the
	// load tool's cost per answer (decoding flinkgate's patch) off the
	// two cores the servers share with it.
	verified atomic.Pointer[[]byte]
}

// verify checks an answer: byte-equal to the last verified one, or fully.
func (t *target) verify(out []byte) error {
	if v := t.verified.Load(); v != nil && bytes.Equal(*v, out) {
		return nil
	}
	if err := t.expect.check(out); err != nil {
		return err
	}
	kept := bytes.Clone(out)
	t.verified.Store(&kept)
	return nil
}

func (t *target) protocol() string {
	if p := t.proto.Load(); p != nil {
		return *p
	}
	return "?"
}

// newClient speaks TLS to one server, trusting caPEM, the way the API
// server calls a webhook behind a Service: HTTP/1.1 only (its webhook client
// sets NextProtos to http/1.1 for Service and non-loopback URL webhooks, so
// that calls spread over replicas), one kept-alive connection per
// concurrent request.
func newClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the ca bundle")
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}

// requestTimeout is the API server's default webhook timeout.
const requestTimeout = 10 * time.Second

// wrongAnswer is an answer that is not what the server must say; it always
// fails the run, while a request that got no answer may be counted.
type wrongAnswer struct{ error }

func (w wrongAnswer) Unwrap() error { return w.error }

func isWrongAnswer(err error) bool {
	var w wrongAnswer
	return errors.As(err, &w)
}

// post sends body once and checks the answer.
func (t *target) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return wrongAnswer{fmt.Errorf("%s answered %s: %s", t.name, resp.Status, out)}
	}
	t.proto.CompareAndSwap(nil, &resp.Proto)
	if err := t.verify(out); err != nil {
		var u unavailable
		if errors.As(err, &u) {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		return wrongAnswer{fmt.Errorf("%s answered wrongly: %w", t.name, err)}
	}
	return nil
}

// closedLoop keeps concurrency requests in flight for d and measures them.
// Any wrong answer fails the run.
func closedLoop(ctx context.Context, t *target, body []byte, concurrency int, d time.Duration) (stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		all      []time.Duration
		firstErr error
		wg       sync.WaitGroup
		failed   atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	for range concurrency {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := t.post(ctx, body); err != nil {
					var u unavailable
					if errors.As(err, &u) {
						// Counted as failed, not as served.
						failed.Add(1)
						continue
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return stats{}, firstErr
	}
	s := newStats(all, time.Since(start))
	s.failed = int(failed.Load())
	return s, nil
}

// fixedRate sends rate requests per second for d, each on its own schedule,
// and measures each from when it was due, so a stalled server cannot hide
// its queueing delay (coordinated omission). At most maxInFlight requests
// are outstanding; a run that needs more stops early, marked overloaded.
func fixedRate(ctx context.Context, t *target, body []byte, rate int, d time.Duration) (stats, error) {
	const maxInFlight = 2048
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	var (
		wg         sync.WaitGroup
		inFlight   atomic.Int64
		errOnce    sync.Once
		firstErr   error
		sent       int
		overloaded bool
		failed     atomic.Int64
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		if inFlight.Load() >= maxInFlight {
			overloaded = true
			break
		}
		inFlight.Add(1)
		sent++
		wg.Go(func() {
			defer inFlight.Add(-1)
			if err := t.post(ctx, body); err != nil {
				if isWrongAnswer(err) || ctx.Err() != nil {
					fail(err)
					return
				}
				failed.Add(1)
			}
			lat[i] = time.Since(due)
		})
	}
	wg.Wait()
	if firstErr != nil {
		return stats{}, firstErr
	}
	s := newStats(lat[:sent], time.Since(start))
	s.overloaded, s.failed = overloaded, int(failed.Load())
	return s, nil
}
