package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/resource"
)

// flowListDeployment is the costly shape the hostile review found: a
// 38.6 KB deployment whose spec holds a YAML flow list of 19,300
// one-letter items.
func flowListDeployment() string {
	return "spec: {deploymentTargetName: staging, x: [" + strings.Repeat("a,", 19300) + "a]}\nkind: Deployment\n"
}

// gateLookup holds every Target look-up (made while a review is being
// decided) until open is closed, and counts the reviews inside.
type gateLookup struct {
	fakeLookup
	open         chan struct{}
	inside, most atomic.Int32
}

func (g *gateLookup) Target(ctx context.Context, ns, name string) resource.TargetLookup {
	n := g.inside.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	defer g.inside.Add(-1)
	<-g.open
	return g.fakeLookup.Target(ctx, ns, name)
}

// eofCounter counts the bodies read to their end.
type eofCounter struct {
	r    io.Reader
	read *atomic.Int32
	done bool
}

func (e *eofCounter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF && !e.done {
		e.done = true
		e.read.Add(1)
	}
	return n, err
}

// decidingFull reports whether the deciding budget has no byte left.
func decidingFull(s *Server) bool {
	if s.deciding.TryAcquire(1) {
		s.deciding.Release(1)
		return false
	}
	return true
}

func TestConcurrentReviewsStayWithinTheDecidingBudget(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	body := review(admissionv1.Create, nil, configMap("flow", resource.KindDeployment, flowListDeployment()))
	cost := reviewCost(len(body))
	const fit, sent = 3, 16
	cases := []struct {
		name     string
		path     string
		deadline string
	}{
		{name: "Sixteen costly reviews sent at once are decided at most three at a time when the budget holds three.", path: "/mutate?timeout=30s"},
		{name: "Sixteen costly reviews without a timeout are decided at most three at a time too.", path: "/mutate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &gateLookup{fakeLookup: fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": target}}, open: make(chan struct{})}
			s, err := NewServer(Config{Lookup: g, PlatformNamespace: platformNS, ReviewMemory: fit*cost + cost/2})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Handler()
			var read atomic.Int32
			codes := make(chan string, sent)
			var wg sync.WaitGroup
			for range sent {
				wg.Go(func() {
					rec := httptest.NewRecorder()
					req := httptest.NewRequest(http.MethodPost, tc.path, &eofCounter{r: bytes.NewReader(body), read: &read})
					req.Header.Set("Content-Type", "application/json")
					req.ContentLength = int64(len(body)) // as the API server declares it
					h.ServeHTTP(rec, req)
					codes <- answerOf(rec)
				})
			}
			// Every body is read and the budget is full: the reviews not
			// inside are waiting for it.
			deadline := time.Now().Add(20 * time.Second)
			for read.Load() < sent || g.inside.Load() < fit || !decidingFull(s) {
				if g.inside.Load() > fit {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d bodies read, %d reviews inside; want %d and %d", read.Load(), g.inside.Load(), sent, fit)
				}
				runtime.Gosched()
			}
			close(g.open)
			wg.Wait()
			close(codes)
			if m := g.most.Load(); m > fit {
				t.Errorf("%d reviews were decided at once, more than the %d the budget holds", m, fit)
			}
			for c := range codes {
				if c != "allowed" {
					t.Errorf("a review was answered %s, want allowed", c)
				}
			}
		})
	}
}

// answerOf is a recorded answer as "allowed", "denied <code>: <message>"
// or "status <code>".
func answerOf(rec *httptest.ResponseRecorder) string {
	if rec.Code != http.StatusOK {
		return "status " + http.StatusText(rec.Code)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		return "unreadable answer"
	}
	if out.Response.Allowed {
		return "allowed"
	}
	return "denied " + out.Response.Result.Message
}

func TestAReviewThatCannotBeDecidedInTimeIsToldToTryAgain(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	costly := review(admissionv1.Create, nil, configMap("flow", resource.KindDeployment, flowListDeployment()))
	usual := review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment))
	cases := []struct {
		name   string
		budget int64
		hold   bool // a costly review holds the budget meanwhile
		body   []byte
		want   string
	}{
		{name: "A review that does not get its share before its timeout is denied as unavailable, with a retry hint.", budget: reviewCost(len(costly)), hold: true, body: usual,
			want: "denied flinkgate is deciding too many reviews at once to take this one"},
		{name: "A review that costs more than the whole budget is decided alone.", budget: reviewCost(len(costly)) / 4, body: costly, want: "allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &gateLookup{fakeLookup: fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": target}}, open: make(chan struct{})}
			s, err := NewServer(Config{Lookup: g, PlatformNamespace: platformNS, ReviewMemory: tc.budget})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Handler()
			send := func(path string, body []byte) string {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, req)
				return answerOf(rec)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			if tc.hold {
				wg.Go(func() { send("/mutate", costly) })
				deadline := time.Now().Add(20 * time.Second)
				for g.inside.Load() < 1 {
					if time.Now().After(deadline) {
						t.Fatal("the costly review never reached its decision")
					}
					runtime.Gosched()
				}
				defer close(g.open)
			} else {
				close(g.open)
			}
			start := time.Now()
			got := send("/mutate?timeout=500ms", tc.body)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("answered %q, want %q", got, tc.want)
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("answered after %v, past the review's 500ms timeout", took)
			}
		})
	}
}

// costShapes are documents of about n bytes shaped to cost the most per
// byte: long flow and block lists of one-letter items, many keys, deeply
// nested maps, a long string, the same in JSON, and flow collections on one
// line or over many (the direct reader's), and after a comment (go-yaml's). perByte is the most
// one review (mutate or validate) may allocate per document byte: 50 for
// block YAML; more for JSON and one-line flow collections, whose values
// are two to four bytes each and cost a Go map or a boxed string; most
// where go-yaml's node tree, about 250 bytes a value, reads the document,
// which reviewAmplification covers.
func costShapes(n int) []struct {
	name    string
	doc     string
	perByte float64
} {
	head := "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"
	var keys, deep, flowKeys strings.Builder
	for i := 0; keys.Len() < n; i++ {
		fmt.Fprintf(&keys, "  k%d: v\n", i)
	}
	for i := 0; deep.Len() < n; i++ {
		fmt.Fprintf(&deep, "  d%d:\n", i)
		for d := 1; d < 30; d++ {
			deep.WriteString(strings.Repeat("  ", d+1) + "a:\n")
		}
		deep.WriteString(strings.Repeat("  ", 31) + "a: 1\n")
	}
	for i := 0; flowKeys.Len() < n; i++ {
		fmt.Fprintf(&flowKeys, "k%d: v,", i)
	}
	flow := func(items string) string {
		return "spec: {deploymentTargetName: staging, x: [" + items + "a]}\nkind: Deployment\n"
	}
	jsonList := func(items string) string {
		return `{"kind":"Deployment","spec":{"deploymentTargetName":"staging","x":[` + items + `1]}}`
	}
	return []struct {
		name    string
		doc     string
		perByte float64
	}{
		{"a block list of one-letter items", head + "  x:\n" + strings.Repeat("  - a\n", n/6), 50},
		{"many keys", head + keys.String(), 50},
		{"deeply nested maps", head + deep.String(), 50},
		{"a long string", head + "  x: " + strings.Repeat("x", n) + "\n", 50},
		{"a JSON list of numbers", jsonList(strings.Repeat("1,", n/2)), 80},
		{"a JSON list of maps", jsonList(strings.Repeat(`{"a":1},`, n/8)), 80},
		{"a flow list of one-letter items", flow(strings.Repeat("a,", n/2)), 60},
		{"a flow list of numbers", flow(strings.Repeat("1,", n/2)), 60},
		{"a flow list of empty maps", flow(strings.Repeat("{},", n/3)), 60},
		{"a flow list of one-key maps", flow(strings.Repeat("{a},", min(n/4, 6000))), 150}, // 18,000 values: below MaxValues
		{"a flow mapping of many keys", "spec: {deploymentTargetName: staging, x: {" + flowKeys.String() + "}}\nkind: Deployment\n", 50},
		{"a flow list of one-letter items over many lines", flow(strings.Repeat(strings.Repeat("a,", 99)+"\n    a,", n/200)), 70},
		{"a flow list of empty maps over many lines", flow(strings.Repeat(strings.Repeat("{},", 99)+"\n    {},", n/300)), 70},
		{"a flow list of one-key maps over many lines", flow(strings.Repeat(strings.Repeat("{a},", 99)+"\n    {a},", min(n/4, 6000)/100)), 150},
		// A comment leaves the whole document to go-yaml.
		{"a flow list of one-letter items after a comment", "# c\n" + flow(strings.Repeat("a,", n/2)), 300},
		{"a flow list of empty maps after a comment", "# c\n" + flow(strings.Repeat("{},", n/3)), 300},
		{"a flow list of one-key maps after a comment", "# c\n" + flow(strings.Repeat("{a},", min(n/4, 6000))), 300},
	}
}

// TestReviewCostCoversEveryShape measures what a mutate and a validate
// review of each costly shape allocate, garbage included: each must stay
// within its shape's bound per document byte, and within reviewCost, the
// weight the deciding budget gives it.
func TestReviewCostCoversEveryShape(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": target}}
	s, _ := newTestServer(t, lookup, nil, "")
	h := s.Handler()
	for _, shape := range costShapes(38 << 10) {
		for _, path := range []string{"/mutate", "/validate"} {
			t.Run(shape.name+" through "+path, func(t *testing.T) {
				cm := configMap("d", resource.KindDeployment, shape.doc)
				if path == "/validate" {
					cm = admittedDeployment(shape.doc)
				}
				body := review(admissionv1.Create, nil, cm)
				post(t, h, path, body) // warm: first-use allocations are not the review's
				var u budget.Usage
				for range 3 { // the least of three: a collection in between adds its own
					got := budget.Measure(func() { post(t, h, path, body) })
					if u.Alloc == 0 || got.Alloc < u.Alloc {
						u = got
					}
				}
				perDoc, perBody := float64(u.Alloc)/float64(len(shape.doc)), float64(u.Alloc)/float64(len(body))
				t.Logf("%d document bytes, %d body bytes: %s, %.0f per document byte", len(shape.doc), len(body), u, perDoc)
				if perDoc > shape.perByte {
					t.Errorf("allocated %.0f bytes per document byte, more than %.0f", perDoc, shape.perByte)
				}
				if c := reviewCost(len(body)); int64(u.Alloc) > c {
					t.Errorf("allocated %d bytes (%.0f per body byte), more than its weight in the deciding budget, %d", u.Alloc, perBody, c)
				}
			})
		}
	}
}

// BenchmarkReviewCostPerShape reports, for each costly shape, what a
// mutate review allocates per document byte (alloc/byte).
func BenchmarkReviewCostPerShape(b *testing.B) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": target}}
	s, _ := newTestServer(b, lookup, nil, "")
	h := s.Handler()
	for _, shape := range costShapes(38 << 10) {
		body := review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, shape.doc))
		b.Run(shape.name, func(b *testing.B) {
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, req)
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/float64(len(shape.doc)), "alloc/byte")
		})
	}
}
