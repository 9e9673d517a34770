//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/resource"
)

// The flood's shape: twice as many connections as there are live-read
// slots, so forged reviews always queue for a slot; the legitimate creates
// come at a modest, steady rate.
const (
	floodConns      = 2 * cache.MaxLiveReads
	legitPerPhase   = 30
	legitEvery      = 100 * time.Millisecond
	legitCreateWait = 30 * time.Second // beyond the webhooks' 10s timeout, so a fail-closed shows as an error
)

// TestForgedLiveReadFloodDoesNotFailLegitimateCreates attacks the live-read
// bound (cache.MaxLiveReads) as a pod that reaches flinkgate's webhook port
// but cannot write through the API server: 64 kept-alive connections send
// forged validate reviews, each a deployment CREATE naming a target the
// cache does not hold, so each forces a live GET. Meanwhile deployments are
// created through the API server at a modest rate, each by another user,
// as authors would; every one must be admitted and patched, since their own
// live GETs queue for the same slots (and their authorization checks go to
// the API server, as the forged reviews' do). It reports the flood's rate and the creates' latency with and
// without it.
func TestForgedLiveReadFloodDoesNotFailLegitimateCreates(t *testing.T) {
	loadTestOnNewestOnly(t)
	s := admissionSuite(t)
	f := runForgedFlood(t, s, floodConnections(t, floodConns), nil)

	// The flood must have been one: answered with the denial a missing
	// target gets only after a live GET. A forged review may be refused
	// otherwise (no slot before its deadline), but never allowed.
	if n := f.tally.count(deniedMissing); n < f.conns {
		t.Errorf("the flood got %d answers that followed a live GET from %d connections; it did not load the live reads", n, f.conns)
	}
	if n := f.tally.count("allowed"); n > 0 {
		t.Errorf("%d forged reviews naming a missing target were allowed", n)
	}
	f.checkCreates(t)
}

// processCPU is the CPU time flinkgate has used, from its own metrics.
func processCPU(t *testing.T, s *suite) float64 {
	t.Helper()
	ms := scrapeFamilies(t, s)["process_cpu_seconds_total"].GetMetric()
	if len(ms) == 0 {
		t.Fatal("flinkgate exports no process_cpu_seconds_total")
	}
	return ms[0].GetCounter().GetValue()
}

// selfCPU is the CPU time this test process has used.
func selfCPU(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	sec := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	return sec(ru.Utime) + sec(ru.Stime)
}

// floodResult is what one forged flood and the creates around it saw.
type floodResult struct {
	conns          int
	tally          *floodTally
	quiet, flooded pacedCreates
}

// checkCreates fails the test for every legitimate create that failed.
func (f floodResult) checkCreates(t *testing.T) {
	t.Helper()
	for _, phase := range []pacedCreates{f.quiet, f.flooded} {
		for _, msg := range phase.failures {
			t.Errorf("a legitimate create failed: %s", msg)
		}
	}
}

// runForgedFlood creates deployments through the API server at a modest
// pace, then does it again while conns kept-alive connections (presenting
// certs, if any) send forged validate reviews straight to s's flinkgate.
// It logs the flood's rate and the creates' latency with and without it.
func runForgedFlood(t *testing.T, s *suite, conns int, certs []tls.Certificate) floodResult {
	t.Helper()
	target := s.seedTarget(t)

	// Without the flood first, so both phases see the same warm cluster.
	quiet := s.createPaced(t, target, "live-quiet")

	bodies := forgedReviews(t, s, conns)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.fg.CABundle()) {
		t.Fatal("the CA bundle holds no certificate")
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}, Certificates: certs},
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	url := s.fg.WebhookURL() + "/validate?timeout=10s"

	var (
		stop  atomic.Bool
		busy  atomic.Int64 // connections that have sent their first forged review
		wg    sync.WaitGroup
		tally floodTally
	)
	fgCPU, ownCPU := processCPU(t, s), selfCPU(t)
	began := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Clone(bodies[i])
			for first := true; !stop.Load(); first = false {
				freshTarget(body)
				if first {
					busy.Add(1)
				}
				tally.add(forge(client, url, body))
			}
		}()
	}
	// Every connection is busy before measuring.
	waitUntil(t, waitFor, "every forging connection to send", func() (bool, string) {
		n := busy.Load()
		return n >= int64(conns), fmt.Sprintf("%d of %d connections sent", n, conns)
	})
	flooded := s.createPaced(t, target, "live-flooded")
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(began)
	fgCPU, ownCPU = processCPU(t, s)-fgCPU, selfCPU(t)-ownCPU

	t.Logf("forged flood: %d connections, %d answers in %s (%.0f/s): %s",
		conns, tally.total(), elapsed.Round(time.Millisecond), float64(tally.total())/elapsed.Seconds(), tally.String())
	t.Logf("CPU during the flood: flinkgate %.2fs, the test process (attacker and creates) %.2fs, in %s on %d cores",
		fgCPU, ownCPU, elapsed.Round(time.Millisecond), runtime.NumCPU())
	t.Logf("legitimate creates, %d at one per %s: without the flood p50 %s p99 %s max %s; with it p50 %s p99 %s max %s",
		legitPerPhase, legitEvery,
		quantile(quiet.latencies, 0.50), quantile(quiet.latencies, 0.99), quantile(quiet.latencies, 1),
		quantile(flooded.latencies, 0.50), quantile(flooded.latencies, 0.99), quantile(flooded.latencies, 1))
	return floodResult{conns: conns, tally: &tally, quiet: quiet, flooded: flooded}
}

// floodConnections is def, or FLINKGATE_FLOOD_CONNS to find where
// legitimate creates start to fail (with 2048 on a 2-core machine and no
// client authentication, all do).
func floodConnections(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("FLINKGATE_FLOOD_CONNS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("FLINKGATE_FLOOD_CONNS=%q is not a positive number", v)
	}
	return n
}

// pacedCreates is what one phase of legitimate creates saw.
type pacedCreates struct {
	latencies []time.Duration // of the creates that succeeded
	failures  []string        // each a create that failed, or was not patched, and how
}

// createPaced creates legitPerPhase deployments on target through the API
// server, one every legitEvery whatever the earlier ones take, and checks
// each was admitted and patched by flinkgate.
func (s *suite) createPaced(t *testing.T, target, base string) pacedCreates {
	t.Helper()
	var dep corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(s.exampleDeployment(t, base, target)), &dep); err != nil {
		t.Fatal(err)
	}
	// Each create is a different user's, as when many authors each create
	// now and then, so flinkgate's authorization answers are not cached
	// for them (an administrator impersonates them, keeping their rights).
	clients := make([]kubernetes.Interface, legitPerPhase)
	for i := range clients {
		cfg := s.c.RestConfig()
		cfg.Impersonate = rest.ImpersonationConfig{UserName: name(base + "-author"), Groups: []string{"system:masters", "system:authenticated"}}
		var err error
		if clients[i], err = kubernetes.NewForConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu  sync.Mutex
		out pacedCreates
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(legitEvery)
	defer tick.Stop()
	for i := range legitPerPhase {
		if i > 0 {
			<-tick.C
		}
		cm := dep.DeepCopy()
		cm.Name = name(base)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), legitCreateWait)
			defer cancel()
			start := time.Now()
			got, err := clients[i].CoreV1().ConfigMaps(s.ns).Create(ctx, cm, metav1.CreateOptions{})
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				out.failures = append(out.failures, fmt.Sprintf("create %s after %s: %v", cm.Name, took.Round(time.Millisecond), err))
			case got.Labels[resource.LabelDeploymentTarget] != target:
				out.failures = append(out.failures, fmt.Sprintf("create %s was stored without flinkgate's label %s=%s: labels %v", cm.Name, resource.LabelDeploymentTarget, target, got.Labels))
			default:
				out.latencies = append(out.latencies, took)
			}
		}()
	}
	wg.Wait()
	return out
}

// forgedReviews are n validate reviews, each a deployment CREATE naming a
// random target no cache holds, so each is looked up live.
func forgedReviews(t *testing.T, s *suite, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		missing := forgedPrefix + hex.EncodeToString(b)
		var dep corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(s.exampleDeployment(t, name("flood"), missing)), &dep); err != nil {
			t.Fatal(err)
		}
		out[i] = pipelineReview(t, fmt.Sprintf("forged-%d", i), &dep)
	}
	return out
}

// transportError starts the class of an attempt that got no HTTP answer.
const transportError = "transport error: "

// deniedMissing is the class of a forged review's expected answer.
const deniedMissing = "denied: target does not exist"

// forgedPrefix starts every forged target name; 16 hex digits follow.
const forgedPrefix = "forged-"

// freshTarget renames, in place, the random target of a forged review, so
// no answer about it (the target look-up, the authorization check) is
// cached.
func freshTarget(body []byte) {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	name := []byte(hex.EncodeToString(b[:]))
	for rest := body; ; {
		i := bytes.Index(rest, []byte(forgedPrefix))
		if i < 0 || len(rest) < i+len(forgedPrefix)+len(name) {
			return
		}
		rest = rest[i+len(forgedPrefix):]
		if !isHex(rest[:len(name)]) {
			continue // the deployment's own name, "forged-<n>"
		}
		copy(rest, name)
		rest = rest[len(name):]
	}
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// forge sends one forged review and classifies its answer.
func forge(client *http.Client, url string, body []byte) string {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return transportError + firstWords(err.Error())
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "read error: " + firstWords(err.Error())
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstWords(string(raw)))
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &rv); err != nil || rv.Response == nil {
		return "not a review: " + firstWords(string(raw))
	}
	switch msg := rv.Response.Result; {
	case rv.Response.Allowed:
		return "allowed"
	case msg != nil && strings.Contains(msg.Message, "which does not exist"):
		return deniedMissing
	case msg != nil:
		// Up to the first name flinkgate quotes, so classes stay few.
		class, _, _ := strings.Cut(msg.Message, `"`)
		return "denied: " + firstWords(class)
	default:
		return "denied without a message"
	}
}

// firstWords keeps a class of answer short.
func firstWords(s string) string {
	if len(s) > 120 {
		s = s[:120]
	}
	return strings.TrimSpace(s)
}

// floodTally counts the forged answers by class.
type floodTally struct {
	mu sync.Mutex
	by map[string]int
}

func (f *floodTally) add(class string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by == nil {
		f.by = map[string]int{}
	}
	f.by[class]++
}

func (f *floodTally) count(class string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.by[class]
}

// transportErrors counts the attempts that got no HTTP answer.
func (f *floodTally) transportErrors() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for class, c := range f.by {
		if strings.HasPrefix(class, transportError) {
			n += c
		}
	}
	return n
}

func (f *floodTally) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.by {
		n += c
	}
	return n
}

func (f *floodTally) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	classes := make([]string, 0, len(f.by))
	for c, n := range f.by {
		classes = append(classes, fmt.Sprintf("%d %s", n, c))
	}
	sort.Strings(classes)
	return strings.Join(classes, "; ")
}

// quantile is the q-quantile (nearest rank) of ds; 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return s[min(i, len(s)-1)].Round(100 * time.Microsecond)
}
