package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/flowcontrol"

	"flinkgate.io/flinkgate/internal/benchdata"
	"flinkgate.io/flinkgate/internal/cluster"
)

// referenced is how many deployments reference the target whose DELETE is
// checked, at every scale; the others reference fillTargets other targets.
const (
	referenced  = 100
	fillTargets = 100
	fillWorkers = 16
	deleteCalls = 300
	// deleteRounds alternate the measured flinkgate with the reference one,
	// as make bench alternates flinkgate with the bare server.
	deleteRounds = 3
	// refNS is the namespace of the reference flinkgate: a target and the
	// 100 deployments that reference it, and nothing else.
	refNS = "flink-bench-ref"
)

// scaleRow is one line of the scale table.
type scaleRow struct {
	deployments int
	sync        time.Duration
	rss         int64 // bytes, after a forced GC
	heap        int64 // Go heap in use, bytes
	delete      stats
	// refDelete is the same check, in the same rounds, against a reference
	// flinkgate that caches only 100 deployments: the machine's load
	// changes over a run, so only a same-time ratio means much.
	refDelete stats
}

// runScale fills the served namespace with deployment ConfigMaps through
// the API server (webhooks off, labels set as flinkgate would) and, at 100
// deployments and at each requested count, starts a fresh flinkgate to
// measure its cache sync, its memory, and the DELETE check of a target that
// 100 deployments reference.
func runScale(ctx context.Context, o *options) error {
	e, err := startEnv(ctx, o, func(ctx context.Context, c *cluster.Cluster) error {
		return fill(ctx, c, servedNS, 0, referenced, func(int) string { return targetName })
	})
	if err != nil {
		return err
	}
	defer e.stop()
	ref, err := startReference(ctx, e, o)
	if err != nil {
		return err
	}
	defer ref.Stop()
	var rows []scaleRow
	measure := func(n int) error {
		row, err := measureScale(ctx, e, ref, n, o.out)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		fmt.Printf("  %8d deployments: sync %s, RSS %.1f MiB, heap %.1f MiB, referenced-target DELETE check %s\n",
			n, row.sync.Round(time.Millisecond), mib(row.rss), mib(row.heap), row.delete)
		fmt.Printf("  %8s at the same time, the reference flinkgate with 100 deployments: %s\n", "", row.refDelete)
		return nil
	}
	fmt.Printf("\nscale: deployment ConfigMaps in %s, each a kubectl-applied document with its last-applied annotation\n", servedNS)
	if err := measure(referenced); err != nil {
		return err
	}
	have := referenced
	for _, n := range o.scale {
		if n <= have {
			continue
		}
		e.flinkgate.Stop()
		t0 := time.Now()
		if err := fill(ctx, e.cluster, servedNS, have, n, func(i int) string { return "fill-" + strconv.Itoa(i%fillTargets) }); err != nil {
			return err
		}
		fmt.Printf("  (created %d deployments in %s)\n", n-have, time.Since(t0).Round(time.Second))
		have = n
		if err := e.startFlinkgate(ctx, o); err != nil {
			return err
		}
		if err := measure(n); err != nil {
			return err
		}
	}

	base := rows[0]
	fmt.Printf("\n  %12s %10s %10s %10s %16s %16s %14s %14s %12s\n", "deployments", "sync", "RSS", "Go heap", "RSS/deployment", "heap/deployment",
		"DELETE p50", "DELETE p99", "ref. p50")
	for _, r := range rows {
		per, heapPer := "-", "-"
		if r.deployments > base.deployments {
			per = fmt.Sprintf("%.0f B", float64(r.rss-base.rss)/float64(r.deployments-base.deployments))
			heapPer = fmt.Sprintf("%.0f B", float64(r.heap-base.heap)/float64(r.deployments-base.deployments))
		}
		fmt.Printf("  %12d %10s %8.1fMi %8.1fMi %16s %16s %14s %14s %12s\n", r.deployments, r.sync.Round(time.Millisecond), mib(r.rss), mib(r.heap), per, heapPer,
			ms(r.delete.percentile(50)), ms(r.delete.percentile(99)), ms(r.refDelete.percentile(50)))
	}
	last := rows[len(rows)-1]
	fmt.Printf("\nat %d vs %d deployments: DELETE check p50 ratio %.2f across the run, %.2f against the reference at the same time (goal ≤ 1.50); "+
		"RSS per cached deployment %.0f B, Go heap %.0f B (goal ≤ 1024); sync %s (goal < 30s)\n",
		last.deployments, base.deployments,
		float64(last.delete.percentile(50))/float64(base.delete.percentile(50)),
		float64(last.delete.percentile(50))/float64(last.refDelete.percentile(50)),
		float64(last.rss-base.rss)/float64(max(1, last.deployments-base.deployments)),
		float64(last.heap-base.heap)/float64(max(1, last.deployments-base.deployments)), last.sync.Round(time.Millisecond))
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// startReference starts the reference flinkgate: it serves refNS, which
// holds a target and the 100 deployments that reference it.
func startReference(ctx context.Context, e *env, o *options) (*cluster.Flinkgate, error) {
	c := e.cluster
	if err := c.CreateNamespace(ctx, refNS, nil); err != nil {
		return nil, err
	}
	if _, err := c.Client().CoreV1().ConfigMaps(refNS).Create(ctx, targetConfigMap(refNS), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create reference target: %w", err)
	}
	if err := fill(ctx, c, refNS, 0, referenced, func(int) string { return targetName }); err != nil {
		return nil, err
	}
	return c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: o.flinkgate, PlatformNamespace: refNS, Namespaces: []string{refNS},
		ExtraArgs: []string{"--log-level=error", "--rbac-preflight=off"},
	})
}

// fill creates deployments from..to-1 in namespace with fillWorkers
// concurrent creates.
func fill(ctx context.Context, c *cluster.Cluster, namespace string, from, to int, targetOf func(int) string) error {
	cfg := c.RestConfig()
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	var next atomic.Int64
	next.Store(int64(from))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range fillWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				cm := deploymentConfigMap(namespace, fmt.Sprintf("deployment-%06d", i))
				applied, _ := json.Marshal(cm)
				cm.Labels["flinkgate.io/deployment-target"] = targetOf(i)
				cm.Annotations = map[string]string{
					"kubectl.kubernetes.io/last-applied-configuration": string(applied) + "\n",
					"flinkgate.io/target-namespace":                    "staging",
				}
				if _, err := client.CoreV1().ConfigMaps(namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("create deployment %d: %w", i, err); cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

// measureScale measures the running flinkgate: how long it took from start
// to ready (caches synced), its memory after a forced GC, and the DELETE
// check, alternating with the reference flinkgate.
func measureScale(ctx context.Context, e *env, ref *cluster.Flinkgate, n int, out string) (scaleRow, error) {
	row := scaleRow{deployments: n}
	row.sync = e.startup
	var err error
	// The heap profile endpoint with gc=1 runs a collection first, so RSS
	// reflects live data rather than garbage awaiting collection; the
	// profile is kept to show where the bytes per deployment go.
	if err := os.MkdirAll(out, 0o755); err != nil {
		return row, fmt.Errorf("create %s: %w", out, err)
	}
	if err := fetch(ctx, e.profiling+"/debug/pprof/heap?gc=1", filepath.Join(out, fmt.Sprintf("scale-heap-%d.pprof", n))); err != nil {
		return row, err
	}
	if row.rss, err = rss(e.flinkgate.Pid()); err != nil {
		return row, err
	}
	if row.heap, err = heapInUse(ctx, e.flinkgate.MetricsURL()); err != nil {
		return row, err
	}
	measured, err := newDeleteCheck(e.flinkgate, servedNS)
	if err != nil {
		return row, err
	}
	reference, err := newDeleteCheck(ref, refNS)
	if err != nil {
		return row, err
	}
	var lat, refLat []time.Duration
	var elapsed, refElapsed time.Duration
	for range deleteRounds {
		d, l, err := measured.run(ctx, deleteCalls/deleteRounds)
		if err != nil {
			return row, err
		}
		elapsed, lat = elapsed+d, append(lat, l...)
		if d, l, err = reference.run(ctx, deleteCalls/deleteRounds); err != nil {
			return row, err
		}
		refElapsed, refLat = refElapsed+d, append(refLat, l...)
	}
	row.delete, row.refDelete = newStats(lat, elapsed), newStats(refLat, refElapsed)
	return row, nil
}

// deleteCheck posts the validating review of deleting the target of a
// namespace to one flinkgate.
type deleteCheck struct {
	t    *target
	body []byte
}

func newDeleteCheck(f *cluster.Flinkgate, namespace string) (*deleteCheck, error) {
	body, err := deleteReview(namespace)
	if err != nil {
		return nil, err
	}
	client, err := newClient(f.CABundle())
	if err != nil {
		return nil, err
	}
	return &deleteCheck{body: body, t: &target{name: "flinkgate", url: f.WebhookURL() + "/validate", client: client,
		expect: expectation{uid: reviewUID, denied: "is referenced by 100 deployment(s)"}}}, nil
}

// run warms the connection with 20 checks, then times calls of them.
func (d *deleteCheck) run(ctx context.Context, calls int) (time.Duration, []time.Duration, error) {
	for range 20 {
		if err := d.t.post(ctx, d.body); err != nil {
			return 0, nil, err
		}
	}
	lat := make([]time.Duration, 0, calls)
	start := time.Now()
	for range calls {
		t0 := time.Now()
		if err := d.t.post(ctx, d.body); err != nil {
			return 0, nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return time.Since(start), lat, nil
}

// deleteReview is the validating review of deleting a namespace's target.
func deleteReview(namespace string) ([]byte, error) {
	target := map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": targetName, "namespace": namespace, "labels": map[string]string{kindLabel: "DeploymentTarget"}},
		"data":     map[string]string{"resource.yaml": benchdata.TargetDocument()},
	}
	raw, err := json.Marshal(target)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(reviewUID), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Name:     targetName, Namespace: namespace, Operation: admissionv1.Delete,
			UserInfo:  authenticationv1.UserInfo{Username: "system:admin", Groups: []string{"system:masters", "system:authenticated"}},
			OldObject: runtime.RawExtension{Raw: raw},
		},
	})
}

// rss reads a process's resident set size from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read process status: %w", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// heapInUse reads go_memstats_heap_inuse_bytes from flinkgate's metrics.
func heapInUse(ctx context.Context, metricsURL string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetch metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(v), err
		}
	}
	return 0, fmt.Errorf("no go_memstats_heap_inuse_bytes in flinkgate's metrics")
}
