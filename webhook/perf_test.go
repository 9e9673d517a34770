package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// TestConcurrentAdmissionsAnswerAsOneAtATime sends reviews through one
// server from many goroutines at once, sharing one parsed target whose
// patch set adds an object and then writes into it, copies and moves it:
// every answer must be the one the review gets alone. Run with -race, it
// finds shared maps or slices written by the fast reader, the policies'
// shallow copies or the patch set.
func TestConcurrentAdmissionsAnswerAsOneAtATime(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n"+
		"  - {op: add, path: /spec/template/spec/x, value: {a: [1, {b: c}]}}\n"+
		"  - {op: add, path: /spec/template/spec/x/a/1/d, value: e}\n"+
		"  - {op: copy, from: /spec/template/spec/x, path: /spec/template/spec/y}\n"+
		"  - {op: add, path: /spec/template/spec/y/a/-, value: f}\n"+
		"  - {op: move, from: /spec/template/spec/x, path: /spec/template/spec/z}\n"), "staging")
	target = versioned(target, "uid-1", "7")
	lookup := &cachedLookup{target: target}
	lookup.Target(context.Background(), platformNS, "staging") // parsed once, before the goroutines share it
	s, _ := newTestServer(t, lookup, nil, rbac.ModeOff)
	h := s.Handler()
	dep := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	bodies := [][]byte{
		appliedReview(t, admissionv1.Create),
		appliedReview(t, admissionv1.Update),
		review(admissionv1.Create, nil, dep),
		review(admissionv1.Update, admittedDeployment(yamlDeployment), dep),
		review(admissionv1.Create, nil, configMap("prod", resource.KindTarget, seedTarget)),
	}
	answer := func(path string, body []byte) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return fmt.Sprint(rec.Code, rec.Body.String())
	}
	type call struct {
		path string
		body []byte
		want string
	}
	var calls []call
	for _, b := range bodies {
		for _, path := range []string{"/mutate", "/validate"} {
			calls = append(calls, call{path, b, answer(path, b)})
		}
	}
	if !strings.Contains(calls[0].want, `"patch"`) {
		t.Fatalf("the first review should be patched: %s", calls[0].want)
	}
	const workers, rounds = 8, 20
	errs := make(chan string, workers*rounds*len(calls))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range calls {
					c := calls[(i+w+r)%len(calls)]
					if got := answer(c.path, c.body); got != c.want {
						errs <- fmt.Sprintf("%s answered\n%s\nalone\n%s", c.path, got, c.want)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// BenchmarkDeploymentCreateOverHTTP posts the kubectl-applied deployment
// CREATE over one kept-alive loopback connection, as flinkgate serve's
// listener would receive it, with and without connection body buffers.
// The client's work is included: compare the two, not with the handler
// benchmarks.
func BenchmarkDeploymentCreateOverHTTP(b *testing.B) {
	for _, bc := range []struct {
		name    string
		buffers bool
	}{{"fresh buffers", false}, {"connection buffers", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := newTestServer(b, benchLookup(), nil, rbac.ModeOff)
			srv := httptest.NewUnstartedServer(s.Handler())
			if bc.buffers {
				srv.Config.ConnContext = s.ConnContext
				srv.Config.ConnState = s.ConnState
			}
			srv.Start()
			defer srv.Close()
			client := srv.Client()
			body := appliedReview(b, admissionv1.Create)
			b.ReportAllocs()
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/mutate", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				out, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"allowed":true`)) {
					b.Fatalf("unexpected answer %d: %s", resp.StatusCode, out)
				}
			}
		})
	}
}

// BenchmarkDeploymentCreateApplied is BenchmarkDeploymentCreate with the
// review kubectl apply makes (last-applied annotation, managed fields),
// about the load benchmark's.
func BenchmarkDeploymentCreateApplied(b *testing.B) {
	s, _ := newTestServer(b, benchLookup(), nil, rbac.ModeOff)
	benchAllowedCreates(b, s.Handler(), appliedReview(b, admissionv1.Create))
}
