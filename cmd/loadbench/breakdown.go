package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// timings are histogram sums and counts by series, so that two scrapes
// around a phase tell the mean time per call spent in each step.
type timings map[string][2]float64 // series → {sum seconds, count}

// Histograms that say where an admitted create spends its time: the API
// server's view of each webhook call and admission step, the requests
// flinkgate itself makes (its live target read), and flinkgate's own view.
var breakdownFamilies = map[string][]string{
	"apiserver_admission_webhook_admission_duration_seconds": {"name", "type"},
	"apiserver_admission_step_admission_duration_seconds":    {"type", "operation"},
	"apiserver_request_duration_seconds":                     {"verb", "resource"},
	"flinkgate_admission_duration_seconds":                   {"webhook"},
	"etcd_request_duration_seconds":                          {"operation", "type"},
}

func parseTimings(r io.Reader) (timings, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := timings{}
	for name, labels := range breakdownFamilies {
		f := families[name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			key := name + "{" + pick(m, labels) + "}"
			v := out[key]
			out[key] = [2]float64{v[0] + h.GetSampleSum(), v[1] + float64(h.GetSampleCount())}
		}
	}
	return out, nil
}

func pick(m *dto.Metric, names []string) string {
	var parts []string
	for _, n := range names {
		for _, l := range m.GetLabel() {
			if l.GetName() == n {
				parts = append(parts, n+"="+l.GetValue())
			}
		}
	}
	return strings.Join(parts, ",")
}

// scrapeTimings reads the API server's /metrics and flinkgate's.
func scrapeTimings(ctx context.Context, client kubernetes.Interface, flinkgateMetrics string) (timings, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape the api server: %w", err)
	}
	out, err := parseTimings(strings.NewReader(string(raw)))
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, flinkgateMetrics, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape flinkgate: %w", err)
	}
	defer resp.Body.Close()
	fg, err := parseTimings(resp.Body)
	if err != nil {
		return nil, err
	}
	for k, v := range fg {
		out[k] = v
	}
	return out, nil
}

// printBreakdown prints the mean per call of every series that moved
// between two scrapes.
func printBreakdown(before, after timings) {
	var keys []string
	for k, v := range after {
		if v[1] > before[k][1] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	fmt.Printf("  where the time went (mean per call between the two scrapes):\n")
	for _, k := range keys {
		sum, n := after[k][0]-before[k][0], after[k][1]-before[k][1]
		fmt.Printf("    %-100s %7.0f calls  %7.3fms\n", k, n, 1000*sum/n)
	}
}
