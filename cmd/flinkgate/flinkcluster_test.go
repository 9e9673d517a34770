package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"flinkgate.io/flinkgate/internal/flinkcluster"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/policy"
)

func TestTheFlinkReconcilerIsBuiltAndItsMetricsRegisteredOnlyWhenOn(t *testing.T) {
	cases := []struct {
		name        string
		mode        flinkop.Mode
		platformSA  string
		wantBuilt   bool
		wantMetrics int
		wantWriter  string
	}{
		{name: "With the reconciler off nothing is built and no metric registered.", mode: flinkop.ModeOff},
		{name: "With it on it writes as the platform's ServiceAccount and registers three metrics.", mode: flinkop.ModeOn, platformSA: "platform",
			wantBuilt: true, wantMetrics: 3, wantWriter: "system:serviceaccount:flink-platform:platform"},
		{name: "With it on and no platform ServiceAccount it writes as flinkgate itself.", mode: flinkop.ModeOn,
			wantBuilt: true, wantMetrics: 3, wantWriter: "flinkgate itself"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p := &parts{log: zap.NewNop(), reg: reg}
			c := &serveConfig{flinkOperator: tc.mode, platformNamespace: "flink-platform", platformSA: tc.platformSA,
				namespaces: []string{"flink-platform"}, flinkServiceAccount: "flink"}
			f, err := p.buildFlinkReconciler(c, &rest.Config{Host: "https://127.0.0.1:1"})
			if err != nil {
				t.Fatal(err)
			}
			if (f != nil) != tc.wantBuilt {
				t.Fatalf("built = %t, want %t", f != nil, tc.wantBuilt)
			}
			descs := make(chan *prometheus.Desc, 16)
			go func() { reg.Describe(descs); close(descs) }()
			n := 0
			for d := range descs {
				if s := d.String(); strings.Contains(s, "flinkgate_flink_") || strings.Contains(s, "flinkgate_reconcile_") {
					n++
				}
			}
			if n != tc.wantMetrics {
				t.Errorf("%d reconciler metrics registered, want %d", n, tc.wantMetrics)
			}
			if f != nil && !strings.HasPrefix(f.writer, tc.wantWriter) {
				t.Errorf("writer = %q, want %q", f.writer, tc.wantWriter)
			}
		})
	}
}

// The admission rule that keeps users from forging a deployment's Flink
// state must guard the annotations the reconciler writes.
func TestAdmissionGuardsTheAnnotationsTheReconcilerWrites(t *testing.T) {
	want := []string{flinkcluster.AnnotationState, flinkcluster.AnnotationStatus}
	if !slices.Equal(policy.FlinkStatusAnnotations, want) {
		t.Errorf("policy.FlinkStatusAnnotations = %q, want the reconciler's %q", policy.FlinkStatusAnnotations, want)
	}
}
