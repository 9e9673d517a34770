package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewReadiness exports flinkgate_ready, what /readyz answers, read at
// scrape time: the dashboard and the alert for "no ready replica" need it
// as a series, since an unready replica is still scraped.
func NewReadiness(reg prometheus.Registerer, ready func() error) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flinkgate_ready",
		Help: "1 when this replica is ready to answer admission requests (as /readyz), else 0.",
	}, func() float64 {
		if ready() != nil {
			return 0
		}
		return 1
	})
	return reg.Register(g)
}
