package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/cluster"
)

const (
	// servedNS is served by flinkgate and its webhooks; offNS is not, so
	// creates there measure the API server without them.
	servedNS = "flink-bench"
	offNS    = "flink-bench-off"
	bareNS   = "flink-bench-bare" // the bare server's webhooks select it
	// readNS is selected by the bare server's webhooks that read the
	// target live; it holds a copy of the target, so that read costs what
	// flinkgate's does.
	readNS = "flink-bench-read"
)

// env is the control plane, a flinkgate and a bare server.
type env struct {
	cluster   *cluster.Cluster
	flinkgate *cluster.Flinkgate
	profiling string        // flinkgate's pprof base URL
	startup   time.Duration // from starting flinkgate to its /readyz, caches synced
	bare      *exec.Cmd
	bareURL   string
}

func (e *env) stop() {
	if e.bare != nil && e.bare.Process != nil {
		_ = e.bare.Process.Signal(os.Interrupt)
		_ = e.bare.Wait()
	}
	if e.cluster != nil {
		e.cluster.Stop()
	}
}

// startEnv starts the control plane with the namespaces and the target, then
// flinkgate (with its caches synced: StartFlinkgate waits for /readyz); fill,
// if given, runs before flinkgate starts.
func startEnv(ctx context.Context, o *options, fill func(context.Context, *cluster.Cluster) error) (*env, error) {
	e := &env{}
	c, err := cluster.Start(ctx, cluster.Options{BinDir: o.bin, Log: os.Stderr})
	if err != nil {
		return nil, err
	}
	e.cluster = c
	for _, ns := range []string{servedNS, offNS, bareNS, readNS} {
		if err := c.CreateNamespace(ctx, ns, nil); err != nil {
			e.stop()
			return nil, err
		}
	}
	for _, ns := range []string{servedNS, readNS} {
		if _, err := c.Client().CoreV1().ConfigMaps(ns).Create(ctx, targetConfigMap(ns), metav1.CreateOptions{}); err != nil {
			e.stop()
			return nil, fmt.Errorf("create target in %s: %w", ns, err)
		}
	}
	if fill != nil {
		if err := fill(ctx, c); err != nil {
			e.stop()
			return nil, err
		}
	}
	if err := e.startFlinkgate(ctx, o); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// startFlinkgate starts a flinkgate as deployed for the measurement: log
// level error (as the issue measured), pprof on, preflight off (it only
// concerns target creation).
func (e *env) startFlinkgate(ctx context.Context, o *options) error {
	args := []string{"--log-level=error", "--rbac-preflight=off"}
	// Without profiles, no pprof listener: older flinkgates lack the flag,
	// and --profile=false lets them be measured for comparison.
	profiling := ""
	if o.profile || len(o.scale) > 0 {
		ports, err := cluster.FreePorts(1)
		if err != nil {
			return err
		}
		profAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
		args = append(args, "--profiling-addr="+profAddr)
		profiling = "http://" + profAddr
	}
	t0 := time.Now()
	f, err := e.cluster.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: o.flinkgate, PlatformNamespace: servedNS, Namespaces: []string{servedNS}, ExtraArgs: args,
	})
	if err != nil {
		return err
	}
	e.flinkgate, e.profiling, e.startup = f, profiling, time.Since(t0)
	return nil
}

// startBare runs `loadbench bare` as its own process with flinkgate's
// serving certificate, so both servers are separate processes competing for
// the same cores.
func (e *env) startBare(ctx context.Context, client *http.Client) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	// flinkgate runs with the admin kubeconfig (StartFlinkgate), so the
	// reading pair reads as the same user.
	e.bare = exec.Command(self, "bare", "--addr", addr, "--cert-dir", e.flinkgate.CertDir(), "--kubeconfig", e.cluster.Kubeconfig)
	e.bare.Stdout, e.bare.Stderr = os.Stderr, os.Stderr
	e.bare.SysProcAttr = childAttr()
	if err := e.bare.Start(); err != nil {
		return fmt.Errorf("start bare server: %w", err)
	}
	e.bareURL = "https://" + addr
	return pollUntil(ctx, 30*time.Second, "the bare server to listen", func() error {
		resp, err := client.Get(e.bareURL + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

func runLoad(ctx context.Context, o *options) error {
	started, loadStart := time.Now(), loadAverage()
	body, err := reviewBody(servedNS)
	if err != nil {
		return err
	}
	e, err := startEnv(ctx, o, nil)
	if err != nil {
		return err
	}
	defer e.stop()

	newTarget := func(name, url string, want [][]byte) (*target, error) {
		client, err := newClient(e.flinkgate.CABundle())
		if err != nil {
			return nil, err
		}
		return &target{name: name, url: url, client: client, expect: expectation{uid: reviewUID, patchContains: want}}, nil
	}
	a, err := newTarget("bare", "", nil)
	if err != nil {
		return err
	}
	if err := e.startBare(ctx, a.client); err != nil {
		return err
	}
	a.url = e.bareURL + "/mutate"
	b, err := newTarget("flinkgate", e.flinkgate.WebhookURL()+"/mutate", flinkgateAnswer)
	if err != nil {
		return err
	}

	fmt.Printf("\nreview body: deployment CREATE, %d bytes; target patch set: 10 operations; GOMAXPROCS of this machine: %d cores\n", len(body), numCPU())
	for _, t := range []*target{a, b} {
		if _, err := closedLoop(ctx, t, body, o.concurrency, o.warmup); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}

	fmt.Printf("protocols negotiated: bare %s, flinkgate %s\n", a.protocol(), b.protocol())
	if a.protocol() != b.protocol() {
		return fmt.Errorf("the servers negotiated different protocols (bare %s, flinkgate %s): the comparison would not be like with like", a.protocol(), b.protocol())
	}
	res := &result{
		started: started, loadStart: loadStart, cores: numCPU(), bodyBytes: len(body),
		rounds: o.rounds, concurrency: o.concurrency, rate: o.rate, duration: o.duration,
		corpusDuration: o.corpusDuration, protocol: a.protocol(),
	}
	fmt.Printf("\nthroughput, %d concurrent requests (kept-alive HTTP/1.1 connections), %s per run (a = bare, b = flinkgate, alternating)\n", o.concurrency, o.duration)
	for r := range o.rounds {
		for i, t := range []*target{a, b} {
			s, err := closedLoop(ctx, t, body, o.concurrency, o.duration)
			if err != nil {
				return err
			}
			res.tput[i] = append(res.tput[i], s)
			fmt.Printf("  round %d %-10s %s\n", r+1, t.name, s)
		}
	}
	fmt.Printf("\nfixed rate, %d req/s, %s per run, latency from each request's due time\n", o.rate, o.duration)
	for r := range o.rounds {
		for i, t := range []*target{a, b} {
			s, err := fixedRate(ctx, t, body, o.rate, o.duration)
			if err != nil {
				return err
			}
			res.fixed[i] = append(res.fixed[i], s)
			fmt.Printf("  round %d %-10s %s\n", r+1, t.name, s)
		}
	}

	if o.corpusDuration > 0 {
		if res.corpus, err = runCorpus(ctx, o, a, b); err != nil {
			return err
		}
	}

	if o.profile {
		if err := captureProfiles(ctx, e.profiling, o.out, func(d time.Duration) error {
			_, err := closedLoop(ctx, b, body, o.concurrency, d)
			return err
		}); err != nil {
			return err
		}
	}

	if o.apiCreates > 0 {
		if res.api, err = throughAPIServer(ctx, e, o, a.client); err != nil {
			return err
		}
	}
	res.finished, res.loadEnd = time.Now(), loadAverage()
	return writeResult(res, o.out)
}

// writeResult prints the API-server figures and the summary, and writes
// them beside the profiles in dir: the same text, and the HTML page.
func writeResult(res *result, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	var text bytes.Buffer
	if res.api != nil {
		res.api.write(&text)
	}
	res.writeSummary(&text)
	os.Stdout.Write(text.Bytes())
	txt, html := filepath.Join(dir, "loadbench.txt"), filepath.Join(dir, "loadbench.html")
	if err := os.WriteFile(txt, text.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", txt, err)
	}
	var page bytes.Buffer
	if err := renderPage(&page, res); err != nil {
		return err
	}
	if err := os.WriteFile(html, page.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", html, err)
	}
	fmt.Printf("\nwritten: %s, %s\n", txt, html)
	return nil
}

func p(q float64) func(stats) float64 {
	return func(s stats) float64 { return float64(s.percentile(q)) }
}

func msf(ns float64) float64 { return ns / float64(time.Millisecond) }

// median of f over runs.
func median(runs []stats, f func(stats) float64) float64 {
	vs := make([]float64, len(runs))
	for i, s := range runs {
		vs[i] = f(s)
	}
	slices.Sort(vs)
	if len(vs) == 0 {
		return 0
	}
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// captureProfiles takes a CPU profile of flinkgate while load runs, then a
// heap profile, into dir.
func captureProfiles(ctx context.Context, base, dir string, load func(time.Duration) error) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create profile directory: %w", err)
	}
	const seconds = 8
	loadErr := make(chan error, 1)
	go func() { loadErr <- load((seconds + 2) * time.Second) }()
	cpu := filepath.Join(dir, "flinkgate-cpu.pprof")
	if err := fetch(ctx, base+"/debug/pprof/profile?seconds="+strconv.Itoa(seconds), cpu); err != nil {
		return err
	}
	if err := <-loadErr; err != nil {
		return err
	}
	heap := filepath.Join(dir, "flinkgate-heap.pprof")
	if err := fetch(ctx, base+"/debug/pprof/heap", heap); err != nil {
		return err
	}
	fmt.Printf("\nprofiles of flinkgate under load: %s, %s (go tool pprof -top <file>; -sample_index=alloc_space for the heap)\n", cpu, heap)
	return nil
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// pollUntil calls check every 100ms until it succeeds or timeout passes.
func pollUntil(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-tick.C:
		}
	}
}
