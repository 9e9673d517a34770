package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series gathers reg's series of one metric, by their labels written as
// name=value pairs in order.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + ","
			}
			out[key] = m
		}
	}
	return out
}

// TestObserveCountsEachLabelSetApart observes answers of several label sets,
// the cached usual ones and ones the cache does not know, each more than
// once: every series must count its own answers, and no series may exist
// before its first answer.
func TestObserveCountsEachLabelSetApart(t *testing.T) {
	type answer struct {
		webhook, kind, operation string
		result                   Result
		reason                   string
		times                    int
	}
	cases := []struct {
		name         string
		answers      []answer
		wantRequests map[string]float64
		wantTimed    map[string]uint64
	}{
		{
			name:         "allowed deployment creates of both webhooks are counted apart",
			answers:      []answer{{"mutate", "Deployment", "CREATE", ResultAllowed, "", 3}, {"validate", "Deployment", "CREATE", ResultAllowed, "", 2}},
			wantRequests: map[string]float64{"kind=Deployment,operation=CREATE,result=allowed,webhook=mutate,": 3, "kind=Deployment,operation=CREATE,result=allowed,webhook=validate,": 2},
			wantTimed:    map[string]uint64{"kind=Deployment,operation=CREATE,webhook=mutate,": 3, "kind=Deployment,operation=CREATE,webhook=validate,": 2},
		},
		{
			name:         "results of one label set are counted apart and timed together",
			answers:      []answer{{"mutate", "DeploymentTarget", "DELETE", ResultDenied, "referenced", 2}, {"mutate", "DeploymentTarget", "DELETE", ResultError, "unavailable", 1}, {"mutate", "DeploymentTarget", "DELETE", ResultAllowed, "", 1}},
			wantRequests: map[string]float64{"kind=DeploymentTarget,operation=DELETE,result=denied,webhook=mutate,": 2, "kind=DeploymentTarget,operation=DELETE,result=error,webhook=mutate,": 1, "kind=DeploymentTarget,operation=DELETE,result=allowed,webhook=mutate,": 1},
			wantTimed:    map[string]uint64{"kind=DeploymentTarget,operation=DELETE,webhook=mutate,": 4},
		},
		{
			name:         "user-chosen kinds and operations share their bounded labels",
			answers:      []answer{{"validate", "Kind1", "PATCH", ResultDenied, "invalid", 1}, {"validate", "Kind2", "WATCH", ResultDenied, "invalid", 1}, {"validate", "", "CONNECT", ResultAllowed, "", 1}},
			wantRequests: map[string]float64{"kind=other,operation=other,result=denied,webhook=validate,": 2, "kind=none,operation=CONNECT,result=allowed,webhook=validate,": 1},
			wantTimed:    map[string]uint64{"kind=other,operation=other,webhook=validate,": 2, "kind=none,operation=CONNECT,webhook=validate,": 1},
		},
		{
			name:         "a webhook and a result the cache does not know are still counted",
			answers:      []answer{{"convert", "Deployment", "UPDATE", "odd", "x", 2}},
			wantRequests: map[string]float64{"kind=Deployment,operation=UPDATE,result=odd,webhook=convert,": 2},
			wantTimed:    map[string]uint64{"kind=Deployment,operation=UPDATE,webhook=convert,": 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := NewAdmission(reg)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(series(t, reg, "flinkgate_admission_requests_total")) + len(series(t, reg, "flinkgate_admission_duration_seconds")); n != 0 {
				t.Fatalf("%d series exist before any answer", n)
			}
			for _, a := range tc.answers {
				for range a.times {
					m.Observe(a.webhook, a.kind, a.operation, a.result, a.reason, time.Millisecond)
				}
			}
			requests := series(t, reg, "flinkgate_admission_requests_total")
			if len(requests) != len(tc.wantRequests) {
				t.Errorf("request series %v, want %v", keys(requests), tc.wantRequests)
			}
			for k, want := range tc.wantRequests {
				if got := requests[k].GetCounter().GetValue(); got != want {
					t.Errorf("requests{%s} = %v, want %v", k, got, want)
				}
			}
			timed := series(t, reg, "flinkgate_admission_duration_seconds")
			if len(timed) != len(tc.wantTimed) {
				t.Errorf("duration series %v, want %v", keys(timed), tc.wantTimed)
			}
			for k, want := range tc.wantTimed {
				if got := timed[k].GetHistogram().GetSampleCount(); got != want {
					t.Errorf("duration{%s} count = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func keys(m map[string]*dto.Metric) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
