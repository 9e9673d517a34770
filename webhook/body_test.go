package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"flinkgate.io/flinkgate/internal/budget"
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
			if resp, err := post(ctx, srv.URL+"/mutate", pr, DefaultMaxBodyBytes); err == nil {
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
