package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/flowcontrol"
)

// The sides of the API-server measurement.
const (
	sideOff       = iota // no webhook selects the namespace
	sideBare             // the bare server registered as both webhooks
	sideFlinkgate        // flinkgate's webhooks
	sides
)

var sideNames = [sides]string{"without webhooks", "bare server as both", "flinkgate, both"}

// throughAPIServer creates deployment ConfigMaps one at a time, rotating
// between three namespaces: one no webhook selects, one whose two webhooks
// (the chart's registration) are the bare server, which does nothing, and
// one served by flinkgate. All three see the same API server, etcd and
// machine load, and the bare side shows what two webhook calls cost before
// any work. It returns the latencies of each side.
func throughAPIServer(ctx context.Context, e *env, o *options, bare *http.Client) ([sides]stats, error) {
	c := e.cluster
	if err := c.RegisterWebhooks(ctx, e.flinkgate.WebhookURL(), e.flinkgate.CABundle(), []string{servedNS}); err != nil {
		return [sides]stats{}, err
	}
	if err := c.CreateWebhooksNamed(ctx, "loadbench-bare", e.bareURL, e.flinkgate.CABundle(), []string{bareNS}); err != nil {
		return [sides]stats{}, err
	}
	cfg := c.RestConfig()
	// A client-side limit would add its own queueing to the latencies.
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return [sides]stats{}, fmt.Errorf("build client: %w", err)
	}
	namespaces := [sides]string{offNS, bareNS, servedNS}
	create := func(side, i int) (time.Duration, error) {
		cm := deploymentConfigMap(namespaces[side], fmt.Sprintf("bench-%d", i))
		t0 := time.Now()
		got, err := client.CoreV1().ConfigMaps(namespaces[side]).Create(ctx, cm, metav1.CreateOptions{})
		took := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("create deployment in %s: %w", namespaces[side], err)
		}
		// The served side must really have gone through flinkgate.
		if side == sideFlinkgate && got.Labels["flinkgate.io/deployment-target"] != targetName {
			return 0, fmt.Errorf("deployment %s/%s was stored without flinkgate's patch", got.Namespace, got.Name)
		}
		return took, nil
	}
	// The API server loads webhook configurations asynchronously; the bare
	// server never denies, so its count shows when both calls arrive.
	if err := pollUntil(ctx, 30*time.Second, "the API server to call the bare server twice per create", func() error {
		before, err := bareCount(ctx, bare, e.bareURL)
		if err != nil {
			return err
		}
		if _, err := create(sideBare, -1-int(time.Now().UnixNano()%1e9)); err != nil {
			return err
		}
		after, err := bareCount(ctx, bare, e.bareURL)
		if err != nil {
			return err
		}
		if after-before != 2 {
			return fmt.Errorf("one create reached the bare server %d times", after-before)
		}
		return nil
	}); err != nil {
		return [sides]stats{}, err
	}
	// Warm every path (connections, the webhook client) before measuring.
	for i := range 20 {
		for side := range sides {
			if _, err := create(side, -1000-i); err != nil {
				return [sides]stats{}, err
			}
		}
	}
	before, err := scrapeTimings(ctx, client, e.flinkgate.MetricsURL()+"/metrics")
	if err != nil {
		return [sides]stats{}, err
	}
	var lat [sides][]time.Duration
	n := o.apiCreates * o.rounds
	start := time.Now()
	for i := range n {
		// Rotate which side goes first, so none always follows another.
		for k := range sides {
			side := (i + k) % sides
			d, err := create(side, i)
			if err != nil {
				return [sides]stats{}, err
			}
			lat[side] = append(lat[side], d)
		}
	}
	elapsed := time.Since(start)
	after, err := scrapeTimings(ctx, client, e.flinkgate.MetricsURL()+"/metrics")
	if err != nil {
		return [sides]stats{}, err
	}
	var out [sides]stats
	fmt.Printf("\nthrough the API server: %d deployment ConfigMap creates per side, one at a time, rotating\n", n)
	for side := range sides {
		out[side] = newStats(lat[side], elapsed)
		s := out[side]
		fmt.Printf("  %-22s p50 %s  p90 %s  p99 %s  max %s\n", sideNames[side], ms(s.percentile(50)), ms(s.percentile(90)), ms(s.percentile(99)), ms(s.percentile(100)))
	}
	printBreakdown(before, after)
	return out, nil
}

// bareCount asks the bare server how many reviews it has answered.
func bareCount(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/count", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask the bare server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("read the bare server's count: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
