package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"flinkgate.io/flinkgate/internal/health"
)

// countingLimiter counts the requests that waited on it.
type countingLimiter struct {
	flowcontrol.RateLimiter
	waits atomic.Int64
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	return l.RateLimiter.Wait(ctx)
}

// apiServer answers the two live reads: a target GET and a metadata LIST of
// deployments.
func apiServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/namespaces/" + ns + "/configmaps/staging":
			_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"staging","namespace":"` + ns + `","uid":"u1","resourceVersion":"1","labels":{"flinkgate.io/kind":"DeploymentTarget"}},"data":{"resource.yaml":"kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"}}`))
		case "/api/v1/namespaces/" + ns + "/configmaps":
			_, _ = w.Write([]byte(`{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadataList","metadata":{},"items":[{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"job-a","namespace":"` + ns + `"}}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLiveReadsDoNotWaitOnTheInformersRateLimit(t *testing.T) {
	cases := []struct {
		name      string
		read      func(ctx context.Context, c *Cache, clients Clients) error
		wantWaits int64
	}{
		{"A live target read does not wait on the rate limit.", func(ctx context.Context, c *Cache, _ Clients) error {
			return c.TargetLive(ctx, ns, "staging").Err
		}, 0},
		{"A live referrers list does not wait on the rate limit.", func(ctx context.Context, c *Cache, _ Clients) error {
			_, err := c.Referrers(ctx, ns, "staging")
			return err
		}, 0},
		{"A read through the informers' client waits on the rate limit.", func(ctx context.Context, _ *Cache, clients Clients) error {
			_, err := clients.Client.CoreV1().ConfigMaps(ns).Get(ctx, "staging", metav1.GetOptions{})
			return err
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limiter := &countingLimiter{RateLimiter: flowcontrol.NewTokenBucketRateLimiter(1000, 1000)}
			clients, err := ClientsFor(&rest.Config{Host: apiServer(t).URL, RateLimiter: limiter})
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(clients, []string{ns}, health.NewRefusals())
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.read(context.Background(), c, clients); err != nil {
				t.Fatalf("read: %v", err)
			}
			if got := limiter.waits.Load(); got != tc.wantWaits {
				t.Errorf("%d requests waited on the rate limiter, want %d", got, tc.wantWaits)
			}
		})
	}
}

func TestLiveReadsInFlightAreBounded(t *testing.T) {
	var arrived atomic.Int64
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
		http.NotFound(w, r)
	}))
	// Unblock before Close, which waits for the handlers.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(unblock) })
	clients, err := ClientsFor(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(clients, []string{ns}, health.NewRefusals())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const extra = 8
	errs := make(chan error, MaxLiveReads+extra)
	for range MaxLiveReads + extra {
		go func() { errs <- c.TargetLive(ctx, ns, "staging").Err }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for arrived.Load() < MaxLiveReads {
		if time.Now().After(deadline) {
			t.Fatalf("only %d live reads reached the API server, want %d", arrived.Load(), MaxLiveReads)
		}
		runtime.Gosched()
	}
	// The reads beyond the bound wait for a slot until their context ends.
	cancel()
	for range MaxLiveReads + extra {
		if err := <-errs; err == nil {
			t.Error("a live read whose context ended reported success")
		}
	}
	if got := arrived.Load(); got != MaxLiveReads {
		t.Errorf("%d live reads reached the API server at once, want at most %d", got, MaxLiveReads)
	}
}

func TestOnlyLiveReadsSayTheyAreLive(t *testing.T) {
	clients, err := ClientsFor(&rest.Config{Host: apiServer(t).URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(clients, []string{ns}, health.NewRefusals())
	if err != nil {
		t.Fatal(err)
	}
	if found := c.TargetLive(context.Background(), ns, "staging"); found.Target == nil || !found.Live {
		t.Errorf("a live read found target %v, live %v; want the target, live", found.Target, found.Live)
	}
	cached, _, _ := started(t, []k8sruntime.Object{target("staging", validTarget)}, nil)
	if found := cached.Target(context.Background(), ns, "staging"); found.Target == nil || found.Live {
		t.Errorf("a cached look-up found target %v, live %v; want the target, not live", found.Target, found.Live)
	}
}
