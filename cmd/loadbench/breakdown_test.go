package main

import (
	"strings"
	"testing"
)

// exposition is a scrape holding one series of each kind the phase tables
// must keep, drop or rename.
const exposition = `# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="loadbench-bare.mutate.flinkgate.io",operation="CREATE",rejected="false",type="admit",le="+Inf"} 4
apiserver_admission_webhook_admission_duration_seconds_sum{name="loadbench-bare.mutate.flinkgate.io",operation="CREATE",rejected="false",type="admit"} 0.004
apiserver_admission_webhook_admission_duration_seconds_count{name="loadbench-bare.mutate.flinkgate.io",operation="CREATE",rejected="false",type="admit"} 4
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{resource="leases",verb="PUT",le="+Inf"} 7
apiserver_request_duration_seconds_sum{resource="leases",verb="PUT"} 0.007
apiserver_request_duration_seconds_count{resource="leases",verb="PUT"} 7
apiserver_request_duration_seconds_bucket{resource="configmaps",verb="POST",le="+Inf"} 4
apiserver_request_duration_seconds_sum{resource="configmaps",verb="POST"} 0.02
apiserver_request_duration_seconds_count{resource="configmaps",verb="POST"} 4
# TYPE apiserver_admission_step_admission_duration_seconds histogram
apiserver_admission_step_admission_duration_seconds_bucket{operation="UPDATE",rejected="false",type="admit",le="+Inf"} 1
apiserver_admission_step_admission_duration_seconds_sum{operation="UPDATE",rejected="false",type="admit"} 0.001
apiserver_admission_step_admission_duration_seconds_count{operation="UPDATE",rejected="false",type="admit"} 1
`

func TestPhaseRowsLineUpThePairWithFlinkgate(t *testing.T) {
	moved, err := parseTimings(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	a := &apiResult{perRound: 4, block: 4, rounds: 1}
	a.phases[opCreate][sideBare] = moved
	rows := map[string]phaseRow{}
	for _, r := range a.phaseRows(opCreate) {
		rows[r.Name] = r
	}
	cases := []struct {
		name, row string
		present   bool
		calls, ms float64
	}{
		{name: "The bare server's webhook is named as flinkgate's, so the two line up.", row: "webhook call mutate.flinkgate.io admit CREATE", present: true, calls: 1, ms: 1},
		{name: "Requests for the deployments' ConfigMaps are kept, per operation measured.", row: "request POST configmaps", present: true, calls: 1, ms: 5},
		{name: "Requests for other resources (the API server's leases) are dropped.", row: "request PUT leases"},
		{name: "An admission step of another operation than the one measured is dropped.", row: "admission step admit UPDATE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := rows[tc.row]
			if ok != tc.present {
				t.Fatalf("row %q present: %t, want %t (rows: %v)", tc.row, ok, tc.present, rows)
			}
			if ok && (r.Calls[sideBare] != tc.calls || r.MeanMS[sideBare] != tc.ms) {
				t.Errorf("row %q: %v calls of %vms, want %v of %vms", tc.row, r.Calls[sideBare], r.MeanMS[sideBare], tc.calls, tc.ms)
			}
		})
	}
}
