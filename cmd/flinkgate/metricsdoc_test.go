package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes/fake"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/flinkcluster"
	"flinkgate.io/flinkgate/internal/golden"
	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/internal/server"
	"flinkgate.io/flinkgate/rbac"
)

const metricsDoc = "../../docs/metrics.md"

// registerFlinkgateMetrics builds every collector flinkgate serve exports,
// through the same constructors, and registers them with reg. A new metric
// is one more line here; the e2e suite fails when a running flinkgate
// exports a flinkgate_ metric that docs/metrics.md lacks.
func registerFlinkgateMetrics(t *testing.T, reg prometheus.Registerer) {
	t.Helper()
	if _, err := metrics.NewAdmission(reg); err != nil {
		t.Fatal(err)
	}
	if err := metrics.NewReadiness(reg, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(metrics.StateCollector{State: oneTarget{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.NewChecker(fake.NewClientset(), rbac.Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	sar, err := authz.NewSubjectAccessReviews(fake.NewClientset())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authz.NewCached(sar, authz.Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := protection.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// Registered only with --flink-operator=on.
	if _, err := flinkcluster.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := certs.Generate([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.NewClientAuth(filepath.Join(dir, "ca.crt"), nil, zap.NewNop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := server.NewConnLimits(server.DefaultMaxConnections, reg); err != nil {
		t.Fatal(err)
	}
}

// oneTarget gives the state collector something to export, so its metrics'
// types can be read.
type oneTarget struct{}

func (oneTarget) TargetCount() int { return 1 }
func (oneTarget) EachTargetDeployments(fn func(namespace, target string, deployments int)) {
	fn("flink-platform", "staging", 1)
}

// metricDoc is one metric as the reference lists it.
type metricDoc struct {
	name, typ, help string
	labels          []string
}

// recorder is a Registerer that keeps what it is given, so the reference is
// read from the collectors' own descriptors.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// descPattern reads prometheus.Desc.String(), the only public view of a
// descriptor's name, help and labels.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), unit: "[^"]*", constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

func describe(t *testing.T, r *recorder) []metricDoc {
	t.Helper()
	var out []metricDoc
	for _, c := range r.collectors {
		types := collectedTypes(c)
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descPattern.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read descriptor %s", d)
			}
			name, _ := strconv.Unquote(m[1])
			help, _ := strconv.Unquote(m[2])
			doc := metricDoc{name: name, help: help, typ: types[name]}
			if m[3] != "" {
				for _, l := range strings.Split(m[3], ",") {
					doc.labels = append(doc.labels, strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"))
				}
			}
			if doc.typ == "" {
				doc.typ = vecType(c)
			}
			if doc.typ == "" {
				t.Fatalf("cannot tell the type of %s: its collector exports no series and is no known vector; give it one in registerFlinkgateMetrics", name)
			}
			out = append(out, doc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// collectedTypes reads the type of every series a collector exports now.
func collectedTypes(c prometheus.Collector) map[string]string {
	types := map[string]string{}
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		name := descPattern.FindStringSubmatch(m.Desc().String())
		if name == nil {
			continue
		}
		n, _ := strconv.Unquote(name[1])
		switch {
		case pb.Counter != nil:
			types[n] = "counter"
		case pb.Gauge != nil:
			types[n] = "gauge"
		case pb.Histogram != nil:
			types[n] = "histogram"
		case pb.Summary != nil:
			types[n] = "summary"
		}
	}
	return types
}

func vecType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.CounterVec:
		return "counter"
	case *prometheus.GaugeVec:
		return "gauge"
	case *prometheus.HistogramVec:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	return ""
}

func renderMetricsDoc(docs []metricDoc) string {
	var b strings.Builder
	b.WriteString(`# Metrics reference

<!-- Generated from the metric descriptors by
     go test ./cmd/flinkgate -run TestMetricsReference -update
     Do not edit by hand; a test fails when this file and the code drift. -->

` + "`flinkgate serve`" + ` exports these on ` + "`--metrics-addr`" + ` at ` + "`/metrics`" + ` (plain HTTP), next to the
Go runtime and process metrics (` + "`go_*`, `process_*`" + `). Every label takes values from a fixed set,
except ` + "`namespace`" + ` and ` + "`target`" + `, which name the served namespaces and their targets.

| metric | type | labels | meaning |
| --- | --- | --- | --- |
`)
	for _, d := range docs {
		labels := "—"
		if len(d.labels) > 0 {
			labels = "`" + strings.Join(d.labels, "`, `") + "`"
		}
		name := "`" + d.name + "`"
		if d.typ == "histogram" {
			name += " (`_bucket`, `_sum`, `_count`)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, d.typ, labels, strings.ReplaceAll(d.help, "|", `\|`))
	}
	b.WriteString("\n## Denial reasons\n\nThe `reason` label of `flinkgate_admission_denials_total` and the `reason` audit annotation take these values; the [user guide](user-guide.md#what-a-denial-means) says what each means and how to fix it.\n\n")
	for _, r := range policy.Reasons {
		fmt.Fprintf(&b, "- `%s`\n", r)
	}
	return b.String()
}

func TestMetricsReference(t *testing.T) {
	rec := &recorder{}
	registerFlinkgateMetrics(t, rec)
	got := renderMetricsDoc(describe(t, rec))
	golden.Check(t, metricsDoc, []byte(got), "go test ./cmd/flinkgate -run TestMetricsReference -update")
}
