package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/health"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// liveTargetLookup answers Target from memory, as the informer does, and
// TargetLive with the real cache's live GET.
type liveTargetLookup struct {
	*cachedLookup
	live *cache.Cache
}

func (l liveTargetLookup) TargetLive(ctx context.Context, ns, name string) resource.TargetLookup {
	return l.live.TargetLive(ctx, ns, name)
}

// BenchmarkDeploymentCreateValidate measures the validating call of a
// deployment CREATE, a new reference: the live GET of its target that
// in-use protection needs
// (docs/operations.md#why-a-new-reference-reads-its-target-live) against
// the same call answered from memory. The API server here is a loopback
// stub that answers at once, so the difference is flinkgate's side of the
// read (client, HTTP, decoding) only; a real API server adds its own and
// etcd's (TestAStaleCacheCannotAdmitANewReferenceToADeletedTarget logs it).
// Compare the two sub-benchmarks of one run.
func BenchmarkDeploymentCreateValidate(b *testing.B) {
	lookup := benchLookup()
	lookup.target = versioned(lookup.target, "uid-bench", "1")
	lookup.Target(context.Background(), platformNS, "staging")
	stub := with(lookup.target, func(c *corev1.ConfigMap) { c.APIVersion, c.Kind = "v1", "ConfigMap" })
	page, err := json.Marshal(stub)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/"+platformNS+"/configmaps/staging" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(page)
	}))
	defer srv.Close()
	clients, err := cache.ClientsFor(&rest.Config{Host: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	live, err := cache.New(clients, []string{platformNS}, health.NewRefusals())
	if err != nil {
		b.Fatal(err)
	}
	// The validating call sees what the mutating one patched.
	mutator, _ := newTestServer(b, lookup, nil, rbac.ModeOff)
	patched, err := mutator.DryRun(context.Background(), policy.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment))
	if err != nil || !patched.Allowed {
		b.Fatalf("the deployment was not admitted: %v %v", err, patched)
	}
	body := review(admissionv1.Create, nil, patched.Object)
	for _, bc := range []struct {
		name   string
		lookup Lookup
	}{
		{"target from memory", lookup},
		{"target read live", liveTargetLookup{cachedLookup: lookup, live: live}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := newTestServer(b, bc.lookup, nil, rbac.ModeOff)
			h := s.Handler()
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) {
					b.Fatalf("unexpected answer: %s", rec.Body.String())
				}
			}
		})
	}
}
