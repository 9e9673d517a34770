//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/health"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/webhook"
)

// TestAStaleCacheCannotAdmitANewReferenceToADeletedTarget decides whether
// the validating webhook may admit a new reference from its informer's view
// of the target (issue 24). The webhook's cache is synced and then frozen,
// as a replica whose watch is cut or behind would be; the target is deleted
// behind its back, and the protection controller (in-process, the test's
// settle time) decides from its own informer and live lists. The cache's
// lag is then as long as the test wants it, which is the point: nothing
// bounds it, while the settle time only covers admissions that read the
// target before its deletion (the argument:
// docs/operations.md#why-a-new-reference-reads-its-target-live).
func TestAStaleCacheCannotAdmitANewReferenceToADeletedTarget(t *testing.T) {
	// The controller's settle time here: longer than the suite's, so that
	// a loaded machine stores the deployment below within it.
	const staleSettle = 10 * time.Second
	c := sharedEnv(t).c
	ns := name("stale")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	client := c.Client()
	cms := client.CoreV1().ConfigMaps(ns)
	// No webhook serves this namespace: the test stores what the API server
	// would store after an admission, when it chooses.
	tcm := targetCM(ns, "staging")
	tcm.Finalizers = []string{finalizer}
	if _, err := cms.Create(ctx, tcm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The webhook's cache, synced once and then stopped: it keeps the
	// target as it was, live.
	clients, err := cache.ClientsFor(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	stale, err := cache.New(clients, []string{ns}, health.NewRefusals())
	if err != nil {
		t.Fatal(err)
	}
	cacheCtx, stopCache := context.WithCancel(ctx)
	stale.Start(cacheCtx)
	if !stale.WaitForSync(ctx) {
		t.Fatal("the webhook's cache did not sync")
	}
	stopCache()
	srv, err := webhook.NewServer(webhook.Config{Lookup: stale, PlatformNamespace: ns, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	admit := func(t *testing.T, name string) *webhook.DryRunResult {
		t.Helper()
		res, err := srv.DryRun(ctx, policy.Create, nil, deploymentCM(ns, name, "staging"))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// cachedLive reports whether the webhook's cache still holds the target
	// as live (found, not terminating).
	cachedLive := func() bool {
		found := stale.Target(ctx, ns, "staging")
		return found.Target != nil && !found.Target.Terminating && !found.Live
	}

	// The protection controller, as the leader runs it.
	meta, err := metadata.NewForConfig(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := protection.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctlCtx, stopCtl := context.WithCancel(ctx)
	ctlDone := make(chan error, 1)
	go func() {
		ctlDone <- protection.Run(ctlCtx, protection.Config{Client: client, Meta: meta, Namespaces: []string{ns}, Settle: staleSettle, Metrics: metrics})
	}()
	t.Cleanup(func() {
		stopCtl()
		if err := <-ctlDone; err != nil {
			t.Errorf("protection controller: %v", err)
		}
	})

	if err := cms.Delete(ctx, "staging", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted, err := cms.Get(ctx, "staging", metav1.GetOptions{})
	if err != nil || deleted.DeletionTimestamp == nil {
		t.Fatalf("the target is not terminating after its delete: %v", err)
	}

	t.Run("the webhook's cache has not seen the deletion", func(t *testing.T) {
		if !cachedLive() {
			t.Fatal("the cache says the target is gone or terminating; the test needs a cache that lags")
		}
	})
	t.Run("the validating webhook denies a new reference to the terminating target all the same", func(t *testing.T) {
		res := admit(t, "late")
		if res.Allowed || res.Stage != policy.StageValidate || res.Reason != string(policy.ReasonTargetTerminating) {
			t.Fatalf("a create of a deployment of the terminating target: allowed %v, stage %q, reason %q (%v); want the validating webhook's %s",
				res.Allowed, res.Stage, res.Reason, res.Status, policy.ReasonTargetTerminating)
		}
	})
	t.Run("a reference stored within the settle time keeps the target: the controller's live list sees it", func(t *testing.T) {
		// As a write admitted from a stale view just after the deletion and
		// stored at once would be; the settle time has not passed (the
		// controller says how long it waits; the list comes after).
		// The label is the mutating webhook's record of the target, which the
		// controller's list selects on.
		prompt := deploymentCM(ns, "prompt", "staging")
		prompt.Labels["flinkgate.io/deployment-target"] = "staging"
		if _, err := cms.Create(ctx, prompt, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// One machine, one clock: the create came back within the settle time.
		if took := time.Since(deleted.DeletionTimestamp.Time); took >= staleSettle {
			t.Fatalf("the deployment was stored %s after the delete, beyond the settle time %s; the test cannot tell what it means to", took, staleSettle)
		}
		waitUntil(t, time.Minute, "the controller to find the deployment in its live list", func() (bool, string) {
			return inUseEvent(ctx, client, ns, "staging", "still referenced by prompt")
		})
		if cm, err := cms.Get(ctx, "staging", metav1.GetOptions{}); err != nil || !slices.Contains(cm.Finalizers, finalizer) {
			t.Fatalf("the referenced target lost its finalizer or is gone: %v", err)
		}
	})
	t.Run("once unreferenced, the target goes while the webhook's cache still says it is live", func(t *testing.T) {
		if err := cms.Delete(ctx, "prompt", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, time.Minute, "the controller to release the target", gone(client, ns, "staging"))
		// A write admitted from this view now is stored after the
		// controller's list: nothing would ever see it and keep the target.
		if !cachedLive() {
			t.Fatal("the cache caught up; the test needs one that lags")
		}
	})
	t.Run("the validating webhook denies a new reference to the released target, which the cache still holds", func(t *testing.T) {
		res := admit(t, "later")
		if res.Allowed || res.Stage != policy.StageValidate || res.Reason != string(policy.ReasonTargetNotFound) {
			t.Fatalf("a create of a deployment of the released target: allowed %v, stage %q, reason %q (%v); want the validating webhook's %s",
				res.Allowed, res.Stage, res.Reason, res.Status, policy.ReasonTargetNotFound)
		}
		if d, err := danglingLive(client, ns); err != nil || len(d) > 0 {
			t.Fatalf("dangling deployments %v (%v)", d, err)
		}
	})
	t.Run("what the live read costs against the cache's answer", func(t *testing.T) {
		logLiveReadCost(t, ctx, stale, ns)
	})
}

// inUseEvent reports whether the controller recorded an InUse Event on the
// target whose message contains want; otherwise the messages it did record.
func inUseEvent(ctx context.Context, client kubernetes.Interface, ns, target, want string) (bool, string) {
	events, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + target})
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for _, e := range events.Items {
		if e.Reason == "InUse" && strings.Contains(e.Message, want) {
			return true, ""
		}
		seen = append(seen, e.Reason+": "+e.Message)
	}
	return false, strings.Join(seen, "; ")
}

// logLiveReadCost times, in the same run, the live GET a new reference
// makes and the cache's answer it would replace, one at a time, and logs
// both and their ratio (the machine is shared, so only ratios compare).
func logLiveReadCost(t *testing.T, ctx context.Context, c *cache.Cache, ns string) {
	const reads = 300
	// A target that exists, so the live read finds and parses one.
	if _, err := sharedEnv(t).c.Client().CoreV1().ConfigMaps(ns).Create(ctx, targetCM(ns, "timed"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time1 := func(read func()) time.Duration {
		start := time.Now()
		read()
		return time.Since(start)
	}
	var live, cached []time.Duration
	for range reads {
		live = append(live, time1(func() {
			if found := c.TargetLive(ctx, ns, "timed"); found.Target == nil {
				t.Fatalf("live read: %v", found.Err)
			}
		}))
		cached = append(cached, time1(func() { c.Target(ctx, ns, "staging") }))
	}
	q := func(d []time.Duration, p float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(p*float64(len(d)-1))]
	}
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.0fx", float64(a)/float64(max(b, 1))) }
	t.Logf("%d reads each: live GET p50 %s p99 %s; cache p50 %s p99 %s; live/cache p50 %s p99 %s",
		reads, q(live, 0.5), q(live, 0.99), q(cached, 0.5), q(cached, 0.99), ratio(q(live, 0.5), q(cached, 0.5)), ratio(q(live, 0.99), q(cached, 0.99)))
}
