//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// maxConcurrentAnswer is how long each concurrent review may take: the API
// server's default webhook timeout.
const maxConcurrentAnswer = 10 * time.Second

// TestConcurrentCostlyReviewsKeepFlinkgateWithinItsMemory sends 64, then
// 256, concurrent reviews of the 38.6 KB flow-list deployment (19,300
// one-letter items, about 36 MiB per mutate+validate before the fix)
// straight to the webhook port of a flinkgate run with GOMEMLIMIT=128MiB,
// as any pod can while client certificates are off; then 128 of the same
// with a comment before it, which leaves the document to go-yaml, the
// costliest reader, so only the deciding budget holds the memory. Every
// review must be answered within maxConcurrentAnswer, and flinkgate's peak
// RSS must stay below 192 MiB.
func TestConcurrentCostlyReviewsKeepFlinkgateWithinItsMemory(t *testing.T) {
	s := hostileFlinkgate(t)
	target := s.seedTarget(t)
	doc := "spec: {deploymentTargetName: " + target + ", x: [" + strings.Repeat("a,", 19300) + "a]}\nkind: Deployment\n"
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.fg.CABundle()) {
		t.Fatal("the CA bundle holds no certificate")
	}
	before := peakRSS(t, s.fg.Pid())
	t.Logf("flinkgate VmHWM before: %.1f MiB; document %d bytes", float64(before)/(1<<20), len(doc))
	// go-yaml costs about 40 ms of CPU a review: 128 at once stay well
	// within the timeout on a busy 2-core machine, and still hold the
	// deciding budget full many times over.
	for _, c := range []struct {
		shape string
		doc   string
		sent  []int
	}{{"the flow list", doc, []int{64, 256}}, {"the flow list after a comment", "# read by go-yaml\n" + doc, []int{128}}} {
		dep := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: name("flow"), Namespace: s.ns, Labels: map[string]string{resource.LabelKind: resource.KindDeployment}},
			Data:       map[string]string{resource.DataKey: c.doc},
		}
		for _, n := range c.sent {
			concurrentCostlyReviews(t, s, pool, dep, c.shape, n)
		}
	}
}

// concurrentCostlyReviews sends n reviews of dep at once to s's flinkgate
// and checks each answer, its time and flinkgate's peak RSS.
func concurrentCostlyReviews(t *testing.T, s *suite, pool *x509.CertPool, dep *corev1.ConfigMap, shape string, n int) {
	t.Run(fmt.Sprintf("%d concurrent reviews of %s are each answered within %v", n, shape, maxConcurrentAnswer), func(t *testing.T) {
		transport := &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
			MaxConnsPerHost:     n,
			MaxIdleConnsPerHost: n,
		}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport, Timeout: 2 * maxConcurrentAnswer}
		var (
			mu        sync.Mutex
			latencies []time.Duration
			outcomes  = map[string]int{}
			wg        sync.WaitGroup
		)
		start := make(chan struct{})
		for i := range n {
			body := pipelineReview(t, fmt.Sprintf("flow-%d-%d-%d", len(shape), n, i), dep)
			wg.Go(func() {
				<-start
				began := time.Now()
				got := costlyReview(client, s.fg.WebhookURL()+"/mutate?timeout=10s", body)
				took := time.Since(began)
				mu.Lock()
				defer mu.Unlock()
				latencies = append(latencies, took)
				outcomes[got]++
				if took > maxConcurrentAnswer {
					t.Errorf("a review was answered after %v (%s)", took.Round(time.Millisecond), got)
				}
			})
		}
		close(start)
		wg.Wait()
		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		t.Logf("%d reviews: p50 %v, p99 %v, max %v; answers %v", n, latencies[n/2].Round(time.Millisecond),
			latencies[n*99/100].Round(time.Millisecond), latencies[n-1].Round(time.Millisecond), outcomes)
		for got, count := range outcomes {
			if got != "allowed" && !strings.HasPrefix(got, "denied (503): flinkgate is deciding too many reviews at once") {
				t.Errorf("%d reviews were answered %s; want allowed, or told to try again", count, got)
			}
		}
		rss := peakRSS(t, s.fg.Pid())
		t.Logf("flinkgate VmHWM after %d reviews: %.1f MiB (GOMEMLIMIT=%s)", n, float64(rss)/(1<<20), goMemLimit)
		if rss > maxRSS {
			t.Errorf("VmHWM %.1f MiB, more than %d MiB", float64(rss)/(1<<20), maxRSS>>20)
		}
	})
}

// costlyReview posts one review and classifies its answer: "allowed",
// "denied (code): message", or what went wrong.
func costlyReview(client *http.Client, url string, body []byte) string {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "transport error: " + err.Error()
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return "read error: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d: %.200s", resp.StatusCode, out)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &rv); err != nil || rv.Response == nil {
		return fmt.Sprintf("unreadable answer: %.200s", out)
	}
	if rv.Response.Allowed {
		return "allowed"
	}
	return fmt.Sprintf("denied (%d): %s", rv.Response.Result.Code, rv.Response.Result.Message)
}
