package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/resource"
)

// TestReadBodyAllocatesWhatArrives: the declared Content-Length is the
// sender's word, so a pod that declares 6 MiB and sends a few bytes (or
// none, holding the connection) must not make flinkgate reserve 6 MiB.
func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	const limit = 6 << 20
	cases := []struct {
		name      string
		declared  int64
		body      string
		want      string
		maxAlloc  uint64
		wantError bool
	}{
		{name: "A body shorter than its declared 6 MiB costs about what was sent.", declared: limit, body: "{}", want: "{}", maxAlloc: 256 << 10},
		{name: "A body of its declared length is read whole.", declared: 5, body: "hello", want: "hello", maxAlloc: 256 << 10},
		{name: "A body of unknown length is read whole.", declared: -1, body: strings.Repeat("x", 100_000), want: strings.Repeat("x", 100_000), maxAlloc: 1 << 20},
		{name: "A body over the limit is refused.", declared: -1, body: strings.Repeat("x", limit+1), wantError: true, maxAlloc: 64 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mutate", io.NopCloser(bytes.NewReader([]byte(tc.body))))
			r.ContentLength = tc.declared
			var (
				got []byte
				err error
			)
			u := budget.Measure(func() { got, err = readBody(httptest.NewRecorder(), r, limit) })
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want error %t", err, tc.wantError)
			}
			if !tc.wantError && string(got) != tc.want {
				t.Errorf("read %d bytes, want %d", len(got), len(tc.want))
			}
			if u.Alloc > tc.maxAlloc {
				t.Errorf("reading allocated %d bytes, want at most %d", u.Alloc, tc.maxAlloc)
			}
		})
	}
}

// TestLargeReviewsShareABoundedBudget: any pod can reach the port, so
// large bodies sent slowly must not add up without bound; usual reviews
// never wait for them.
func TestLargeReviewsShareABoundedBudget(t *testing.T) {
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	post := func(ctx context.Context, url string, body io.Reader, declared int64) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = declared
		return srv.Client().Do(req)
	}
	// Four slow senders, each declaring the largest body, fill the budget.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 4 {
		pr, pw := io.Pipe()
		defer pw.Close()
		wg.Go(func() {
			if resp, err := post(ctx, srv.URL+"/mutate", pr, defaultMaxBodyBytes); err == nil {
				resp.Body.Close()
			}
		})
		go func() { _, _ = pw.Write([]byte(`{"apiVersion":`)) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.large.TryAcquire(1) {
		s.large.Release(1)
		if time.Now().After(deadline) {
			t.Fatal("the slow senders never held the budget")
		}
		runtime.Gosched()
	}

	cases := []struct {
		name     string
		body     string
		declared int64
		want     func(int) bool
	}{
		{name: "A fifth large review is refused with 503 when its timeout passes.", body: strings.Repeat(" ", 100<<10), declared: 100 << 10, want: func(c int) bool { return c == http.StatusServiceUnavailable }},
		{name: "A usual review is read and answered meanwhile.", body: "{}", declared: 2, want: func(c int) bool { return c != http.StatusServiceUnavailable }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := post(context.Background(), srv.URL+"/mutate?timeout=200ms", strings.NewReader(tc.body), tc.declared)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !tc.want(resp.StatusCode) {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	cancel()
}

// TestConnectionBuffersAnswerLikeFreshOnes sends reviews of every size and
// outcome, large after small and small after large, over kept-alive
// connections that reuse one body buffer each: every answer must be the one
// the review gets alone, whatever the buffer held before. With -race it
// also finds a buffer shared by two requests at once.
func TestConnectionBuffersAnswerLikeFreshOnes(t *testing.T) {
	lookup := benchLookup()
	s, srv := connServer(t, lookup)
	dep := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	bodies := [][]byte{
		appliedReview(t, admissionv1.Update), // the largest first, so later ones leave its bytes behind
		review(admissionv1.Create, nil, dep),
		[]byte("not json"),
		appliedReview(t, admissionv1.Create),
		review(admissionv1.Create, nil, configMap("prod", resource.KindTarget, seedTarget)),
		review(admissionv1.Create, nil, configMap("x", "Other", yamlDeployment)),
		review(admissionv1.Delete, dep, nil),
		[]byte(strings.Repeat(" ", maxConnBuffer+1) + string(review(admissionv1.Create, nil, dep))), // over what a connection keeps
		review(admissionv1.Create, nil, dep),
	}
	answer := func(body []byte) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rec, req)
		return fmt.Sprint(rec.Code, " ", rec.Body.String())
	}
	want := make([]string, len(bodies))
	for i, b := range bodies {
		want[i] = answer(b)
	}
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("over %d connections", conns), func(t *testing.T) {
			client := srv.Client()
			client.Transport.(*http.Transport).MaxConnsPerHost = conns
			var wg sync.WaitGroup
			errs := make(chan string, conns*len(bodies)*3)
			for c := range conns {
				wg.Go(func() {
					for round := range 3 {
						for i := range bodies {
							i := (i + c + round) % len(bodies)
							req, err := http.NewRequest(http.MethodPost, srv.URL+"/mutate", bytes.NewReader(bodies[i]))
							if err != nil {
								errs <- err.Error()
								return
							}
							req.Header.Set("Content-Type", "application/json")
							resp, err := client.Do(req)
							if err != nil {
								errs <- err.Error()
								return
							}
							out, err := io.ReadAll(resp.Body)
							resp.Body.Close()
							if got := fmt.Sprint(resp.StatusCode, " ", string(out)); err != nil || got != want[i] {
								errs <- fmt.Sprintf("review %d answered\n%s\nalone\n%s", i, got, want[i])
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// TestReadBodyKeepsABoundedBufferPerConnection: a connection's next usual
// body reuses its buffer, a body over maxConnBuffer is not kept, and
// requests without a connection buffer, or of a protocol that serves a
// connection's requests at once, get their own.
func TestReadBodyKeepsABoundedBufferPerConnection(t *testing.T) {
	const limit = 6 << 20
	usual := strings.Repeat("u", 3000)
	cases := []struct {
		name       string
		withBuffer bool
		protoMajor int
		bodies     []string
		wantKept   int // the connection buffer's capacity afterwards, at least
		maxKept    int // and at most
		maxAlloc   uint64
	}{
		{name: "A usual body after another reuses the connection's buffer.", withBuffer: true, protoMajor: 1, bodies: []string{usual, usual}, wantKept: 3001, maxKept: 4096, maxAlloc: 1000},
		{name: "A smaller body after a usual one reuses the buffer.", withBuffer: true, protoMajor: 1, bodies: []string{usual, "{}"}, wantKept: 3001, maxKept: 4096, maxAlloc: 1000},
		{name: "A body over the bound is read but not kept.", withBuffer: true, protoMajor: 1, bodies: []string{usual, strings.Repeat("x", maxConnBuffer+1)}, wantKept: 3001, maxKept: 4096, maxAlloc: 1 << 20},
		{name: "Without a connection buffer every body gets its own.", withBuffer: false, protoMajor: 1, bodies: []string{usual, usual}, maxAlloc: 1 << 20},
		{name: "An HTTP/2 request never uses the connection's buffer.", withBuffer: true, protoMajor: 2, bodies: []string{usual, usual}, wantKept: 0, maxKept: 0, maxAlloc: 1 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.withBuffer {
				ctx = new(Server).ConnContext(ctx, nil)
			}
			var last budget.Usage
			for _, b := range tc.bodies {
				r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/mutate", strings.NewReader(b))
				r.ProtoMajor = tc.protoMajor
				var got []byte
				var err error
				last = budget.Measure(func() { got, err = readBody(httptest.NewRecorder(), r, limit) })
				if err != nil || string(got) != b {
					t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(b))
				}
			}
			if tc.withBuffer {
				cb := ctx.Value(connBufferKey{}).(*connBuffer)
				if c := cap(cb.buf); c < tc.wantKept || c > tc.maxKept {
					t.Errorf("the connection keeps %d bytes, want %d to %d", c, tc.wantKept, tc.maxKept)
				}
			}
			if last.Alloc > tc.maxAlloc {
				t.Errorf("the last body allocated %d bytes, want at most %d", last.Alloc, tc.maxAlloc)
			}
			if !tc.withBuffer || tc.protoMajor != 1 {
				if last.Alloc < uint64(len(tc.bodies[len(tc.bodies)-1])) {
					t.Errorf("the last body allocated %d bytes, less than itself: it used a buffer it must not", last.Alloc)
				}
			}
		})
	}
}

// idConn is a connection that is only ever compared.
type idConn struct{ net.Conn }

func TestConnectionsKeepBoundedBuffersTogether(t *testing.T) {
	s := new(Server)
	conns := make([]*idConn, maxKeptBytes/maxConnBuffer+8)
	kept := 0
	for i := range conns {
		conns[i] = &idConn{}
		cb := s.ConnContext(context.Background(), conns[i]).Value(connBufferKey{}).(*connBuffer)
		cb.keep(&cb.buf, make([]byte, 0, maxConnBuffer))
		if cap(cb.buf) > 0 {
			kept++
		}
	}
	if got := s.conns.kept.Load(); got > maxKeptBytes {
		t.Errorf("connections keep %d bytes together, want at most %d", got, maxKeptBytes)
	}
	if kept == len(conns) {
		t.Errorf("all %d connections kept a buffer of %d bytes, beyond the bound of %d bytes", kept, maxConnBuffer, maxKeptBytes)
	}
	for _, c := range conns {
		s.ConnState(c, http.StateClosed)
	}
	if got := s.conns.kept.Load(); got != 0 {
		t.Errorf("after every connection closed, %d bytes are counted as kept, want none", got)
	}
}
