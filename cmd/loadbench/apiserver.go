package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/flowcontrol"
)

// throughAPIServer registers both webhooks for the served namespace and
// creates deployment ConfigMaps one at a time, alternating between the
// served namespace (both webhooks called) and one the webhooks do not
// select, so both sides see the same API server, etcd and machine load.
// It returns the latencies without (0) and with (1) the webhooks.
func throughAPIServer(ctx context.Context, e *env, o *options) ([2]stats, error) {
	c := e.cluster
	if err := c.RegisterWebhooks(ctx, e.flinkgate.WebhookURL(), e.flinkgate.CABundle(), []string{servedNS}); err != nil {
		return [2]stats{}, err
	}
	cfg := c.RestConfig()
	// A client-side limit would add its own queueing to the latencies.
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return [2]stats{}, fmt.Errorf("build client: %w", err)
	}
	namespaces := [2]string{offNS, servedNS}
	create := func(side, i int) (time.Duration, error) {
		cm := deploymentConfigMap(namespaces[side], fmt.Sprintf("bench-%d", i))
		t0 := time.Now()
		got, err := client.CoreV1().ConfigMaps(namespaces[side]).Create(ctx, cm, metav1.CreateOptions{})
		took := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("create deployment in %s: %w", namespaces[side], err)
		}
		// The served side must really have gone through flinkgate.
		if side == 1 && got.Labels["flinkgate.io/deployment-target"] != targetName {
			return 0, fmt.Errorf("deployment %s/%s was stored without flinkgate's patch", got.Namespace, got.Name)
		}
		return took, nil
	}
	// Warm both paths (connections, the webhook client) before measuring.
	for i := range 20 {
		for side := range 2 {
			if _, err := create(side, -1-i); err != nil {
				return [2]stats{}, err
			}
		}
	}
	before, err := scrapeTimings(ctx, client, e.flinkgate.MetricsURL()+"/metrics")
	if err != nil {
		return [2]stats{}, err
	}
	var lat [2][]time.Duration
	n := o.apiCreates * o.rounds
	start := time.Now()
	for i := range n {
		// Alternate which side goes first, so neither always follows the other.
		order := [2]int{i % 2, 1 - i%2}
		for _, side := range order {
			d, err := create(side, i)
			if err != nil {
				return [2]stats{}, err
			}
			lat[side] = append(lat[side], d)
		}
	}
	elapsed := time.Since(start)
	after, err := scrapeTimings(ctx, client, e.flinkgate.MetricsURL()+"/metrics")
	if err != nil {
		return [2]stats{}, err
	}
	out := [2]stats{newStats(lat[0], elapsed), newStats(lat[1], elapsed)}
	fmt.Printf("\nthrough the API server: %d deployment ConfigMap creates per side, one at a time, alternating\n", n)
	fmt.Printf("  %-22s p50 %s  p90 %s  p99 %s  max %s\n", "without webhooks", ms(out[0].percentile(50)), ms(out[0].percentile(90)), ms(out[0].percentile(99)), ms(out[0].percentile(100)))
	fmt.Printf("  %-22s p50 %s  p90 %s  p99 %s  max %s\n", "with both webhooks", ms(out[1].percentile(50)), ms(out[1].percentile(90)), ms(out[1].percentile(99)), ms(out[1].percentile(100)))
	printBreakdown(before, after)
	return out, nil
}
