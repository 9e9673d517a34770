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

// series names one histogram series: its family and the labels kept.
type series struct {
	family, labels string
}

// timings are histogram sums and counts by series, so that two scrapes
// around a block tell the mean time per call spent in each step.
type timings map[series][2]float64 // {sum seconds, count}

// phaseFamily is a histogram that says where a write spends its time, the
// labels that tell its series apart, and its short name in the output.
type phaseFamily struct {
	name, short string
	labels      []string
	// byOperation: the last label is the admission operation, and a block
	// shows only its own (the API server's own writes, its leases, would
	// show as other operations).
	byOperation bool
}

// phaseFamilies, in the order a request meets them: the API server's whole
// request, the same without webhooks and queueing (its SLI), the priority
// and fairness queue, each admission step and each webhook call as the API
// server sees it, flinkgate's own view of its answers, and etcd.
var phaseFamilies = []phaseFamily{
	{"apiserver_request_duration_seconds", "request", []string{"verb", "resource"}, false},
	{"apiserver_request_sli_duration_seconds", "request without webhooks (sli)", []string{"verb", "resource"}, false},
	{"apiserver_flowcontrol_request_wait_duration_seconds", "priority and fairness wait", []string{"priority_level", "execute"}, false},
	{"apiserver_admission_step_admission_duration_seconds", "admission step", []string{"type", "operation"}, true},
	{"apiserver_admission_webhook_admission_duration_seconds", "webhook call", []string{"name", "type", "operation"}, true},
	{"flinkgate_admission_duration_seconds", "flinkgate's answer", []string{"webhook", "operation"}, true},
	{"etcd_request_duration_seconds", "etcd", []string{"operation", "type"}, false},
	{cpuFamily, "CPU time of", []string{"process"}, false},
}

// cpuFamily holds each process's CPU time while a block ran, read from the
// kernel around the block's operations (not from /metrics, so that the
// scrapes between blocks are not counted), one call per operation: its
// mean per call is the CPU time per operation.
const cpuFamily = "cpu"

// processCPU reads the CPU time each process in pids has used so far.
func processCPU(pids map[string]int) map[string]float64 {
	out := make(map[string]float64, len(pids))
	for name, pid := range pids {
		if secs, ok := cpuSeconds(pid); ok {
			out[name] = secs
		}
	}
	return out
}

// cpuMoved is the CPU time each process used from before to after, as
// timings of n calls.
func cpuMoved(before, after map[string]float64, n int) timings {
	out := timings{}
	for name, v := range after {
		if b, ok := before[name]; ok {
			out[series{cpuFamily, name}] = [2]float64{v - b, float64(n)}
		}
	}
	return out
}

// bareWebhookPrefixes are how CreateWebhooksNamed names the two bare
// pairs' webhooks; without them they are named as flinkgate's, so that the
// pairs' rows and flinkgate's line up.
var bareWebhookPrefixes = []string{"loadbench-bare.", "loadbench-read."}

func parseTimings(r io.Reader) (timings, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := timings{}
	for _, pf := range phaseFamilies {
		f := families[pf.name]
		if f == nil {
			continue
		}
		for _, m := range f.GetMetric() {
			h := m.GetHistogram()
			if h == nil || !kept(m) {
				continue
			}
			key := series{pf.name, pick(m, pf.labels)}
			v := out[key]
			out[key] = [2]float64{v[0] + h.GetSampleSum(), v[1] + float64(h.GetSampleCount())}
		}
	}
	return out, nil
}

// kept drops series of resources other than the deployments' ConfigMaps
// (the scrapes themselves, leases, events).
func kept(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == "resource" && l.GetValue() != "configmaps" {
			return false
		}
	}
	return true
}

func pick(m *dto.Metric, names []string) string {
	var parts []string
	for _, n := range names {
		for _, l := range m.GetLabel() {
			if l.GetName() == n {
				v := l.GetValue()
				for _, p := range bareWebhookPrefixes {
					v = strings.TrimPrefix(v, p)
				}
				parts = append(parts, v)
			}
		}
	}
	return strings.Join(parts, " ")
}

// sub is what moved from before to t.
func (t timings) sub(before timings) timings {
	out := timings{}
	for k, v := range t {
		if d := [2]float64{v[0] - before[k][0], v[1] - before[k][1]}; d[1] > 0 {
			out[k] = d
		}
	}
	return out
}

// add sums t and u into a new map.
func (t timings) add(u timings) timings {
	out := timings{}
	for _, m := range []timings{t, u} {
		for k, v := range m {
			o := out[k]
			out[k] = [2]float64{o[0] + v[0], o[1] + v[1]}
		}
	}
	return out
}

// flinkgateCalls is how many answers flinkgate's histogram counts for the
// admission operation op, both webhooks together.
func (t timings) flinkgateCalls(op string) int {
	n := 0.0
	for k, v := range t {
		if k.family == "flinkgate_admission_duration_seconds" && strings.HasSuffix(k.labels, " "+op) {
			n += v[1]
		}
	}
	return int(n)
}

// count is how many calls the series counted.
func (t timings) count(family, labels string) int {
	return int(t[series{family, labels}][1])
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

// phaseRow is one series side by side: per side, the calls per measured
// operation and the mean time per call.
type phaseRow struct {
	Name   string
	Calls  [sides]float64
	MeanMS [sides]float64
}

// phaseRows lines up, for one operation, every series that moved on any
// side, in phaseFamilies' order.
func (a *apiResult) phaseRows(op int) []phaseRow {
	var keys []series
	seen := map[series]bool{}
	for side := range sides {
		for k := range a.phases[op][side] {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	order := map[string]int{}
	short := map[string]string{}
	byOp := map[string]bool{}
	for i, pf := range phaseFamilies {
		order[pf.name], short[pf.name], byOp[pf.name] = i, pf.short, pf.byOperation
	}
	keys = slices.DeleteFunc(keys, func(k series) bool {
		return byOp[k.family] && !strings.HasSuffix(k.labels, " "+admissionOps[op])
	})
	slices.SortFunc(keys, func(x, y series) int {
		if c := order[x.family] - order[y.family]; c != 0 {
			return c
		}
		return strings.Compare(x.labels, y.labels)
	})
	n := float64(a.n())
	rows := make([]phaseRow, 0, len(keys))
	for _, k := range keys {
		r := phaseRow{Name: short[k.family] + " " + k.labels}
		for side := range sides {
			v := a.phases[op][side][k]
			if v[1] > 0 {
				r.Calls[side], r.MeanMS[side] = v[1]/n, 1000*v[0]/v[1]
			}
		}
		rows = append(rows, r)
	}
	return rows
}
