package charts_test

import (
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/charts/queries"
	"flinkgate.io/flinkgate/internal/metricsref"
)

const observabilityValues = `
metrics:
  dashboard:
    enabled: true
  prometheusRule:
    enabled: true
`

// observabilityObjects renders the chart and keeps the dashboard ConfigMap
// and the PrometheusRule.
func observabilityObjects(t *testing.T, values string) manifest {
	t.Helper()
	var out manifest
	for _, o := range mustRender(t, values) {
		if o.Kind == "PrometheusRule" || (o.Kind == "ConfigMap" && strings.HasSuffix(o.Name, "-dashboard")) {
			out = append(out, o)
		}
	}
	return out
}

func (m manifest) text() string {
	var b strings.Builder
	for _, o := range m {
		// Trailing blanks differ between Helm 3 and 4; the objects do not.
		b.WriteString("---")
		b.WriteString(strings.TrimRight(string(o.Doc), " \t\n"))
		b.WriteString("\n")
	}
	return b.String()
}

func TestObservabilityIsOffByDefault(t *testing.T) {
	if got := observabilityObjects(t, ""); len(got) != 0 {
		t.Errorf("the default values render %d dashboard or rule objects, want none", len(got))
	}
}

func TestObservabilityGoldenRender(t *testing.T) {
	checkRender(t, "observability.yaml", observabilityObjects(t, observabilityValues).text())
}

// exportedMetrics reads the metric names of docs/metrics.md; histograms
// count with their series suffixes.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names, err := metricsref.Names(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestEveryQueryParsesAndReadsADocumentedMetric(t *testing.T) {
	qs, err := queries.FromManifest(observabilityObjects(t, observabilityValues).text())
	if err != nil {
		t.Fatal(err)
	}
	// Five alerts, twelve panel queries and the namespace variable; fewer
	// means the extraction missed some and the checks below prove nothing.
	if len(qs) < 17 {
		t.Fatalf("found %d queries, want at least 17: %+v", len(qs), qs)
	}
	exported := exportedMetrics(t)
	for _, q := range qs {
		t.Run(q.Where, func(t *testing.T) {
			names, err := queries.Metrics(q.Expr)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) == 0 {
				t.Errorf("%q reads no metric", q.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%q reads %s, which flinkgate does not export (docs/metrics.md)", q.Expr, n)
				}
			}
		})
	}
}

func TestAlertsFollowTheValues(t *testing.T) {
	cases := []struct {
		name   string
		values string
		alert  string
		want   string
	}{
		{name: "The latency alert fires at 80% of webhook.timeoutSeconds.", alert: "FlinkgateAdmissionSlow",
			values: observabilityValues + "webhook:\n  timeoutSeconds: 5\n", want: "> 4"},
		{name: "The certificate alert uses certificateExpiryDays.", alert: "FlinkgateCertificateExpiring",
			values: observabilityValues + "    certificateExpiryDays: 30\n", want: "< 30 * 86400"},
		{name: "The denial alert uses denialsPer10m.", alert: "FlinkgateDenialsSpiking",
			values: observabilityValues + "    denialsPer10m: 3\n", want: "[10m])) > 3"},
		{name: "A selector replaces the release namespace in every alert.", alert: "FlinkgateNoReadyReplicas",
			values: observabilityValues + "    selector: job=\"flinkgate\"\n", want: `flinkgate_ready{job="flinkgate"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var found bool
			for _, o := range observabilityObjects(t, tc.values).ofKind("PrometheusRule") {
				var rule struct {
					Spec struct {
						Groups []struct {
							Rules []struct {
								Alert, Expr string
							}
						}
					}
				}
				if err := yaml.Unmarshal(o.Doc, &rule); err != nil {
					t.Fatal(err)
				}
				for _, g := range rule.Spec.Groups {
					for _, r := range g.Rules {
						if r.Alert == tc.alert {
							found = true
							if !strings.Contains(r.Expr, tc.want) {
								t.Errorf("%s expr %q does not contain %q", tc.alert, r.Expr, tc.want)
							}
							if _, err := queries.Metrics(r.Expr); err != nil {
								t.Error(err)
							}
						}
					}
				}
			}
			if !found {
				t.Errorf("no alert %s rendered", tc.alert)
			}
		})
	}
}

func TestDashboardConfigMapIsFoundByTheSidecar(t *testing.T) {
	cases := []struct {
		name      string
		values    string
		label     string
		namespace string
	}{
		{name: "By default the dashboard carries grafana_dashboard=1 in the release namespace.",
			values: "metrics:\n  dashboard:\n    enabled: true\n", label: `grafana_dashboard: "1"`, namespace: namespace},
		{name: "The sidecar's label and namespace can be chosen.",
			values: "metrics:\n  dashboard:\n    enabled: true\n    labels: {grafana: flinkgate}\n    namespace: monitoring\n",
			label:  "grafana: flinkgate", namespace: "monitoring"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := observabilityObjects(t, tc.values).ofKind("ConfigMap")
			if len(objs) != 1 {
				t.Fatalf("got %d dashboard ConfigMaps, want 1", len(objs))
			}
			if objs[0].Namespace != tc.namespace || !strings.Contains(string(objs[0].Doc), tc.label) {
				t.Errorf("dashboard ConfigMap in %q without label %q:\n%s", objs[0].Namespace, tc.label, objs[0].Doc)
			}
		})
	}
}
