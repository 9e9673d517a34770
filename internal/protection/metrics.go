package protection

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's gauges; they are registered once per process
// and set only by the replica that leads.
type Metrics struct {
	dangling *prometheus.GaugeVec
	leader   prometheus.Gauge
}

// NewMetrics registers flinkgate_dangling_deployments{namespace} (namespace
// is one of the served namespaces, so bounded) and flinkgate_protection_leader.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		dangling: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flinkgate_dangling_deployments",
			Help: "Deployments whose target does not exist or is terminating, by namespace; exported by the replica that leads the protection controller.",
		}, []string{"namespace"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flinkgate_protection_leader",
			Help: "1 while this replica holds the protection controller's lease.",
		}),
	}
	for _, c := range []prometheus.Collector{m.dangling, m.leader} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register protection metrics: %w", err)
		}
	}
	return m, nil
}
