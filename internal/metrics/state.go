package metrics

import "github.com/prometheus/client_golang/prometheus"

// State is what the state gauges count, read at scrape time so there is no
// second copy of the state to keep right.
type State interface {
	// TargetCount is the number of DeploymentTargets in the served namespaces.
	TargetCount() int
	// EachTargetDeployments calls fn with the number of deployments of every
	// referenced target.
	EachTargetDeployments(fn func(namespace, target string, deployments int))
}

var (
	targetsDesc     = prometheus.NewDesc("flinkgate_deployment_targets", "DeploymentTargets in the served namespaces.", nil, nil)
	deploymentsDesc = prometheus.NewDesc("flinkgate_deployments", "Deployments per target, by namespace and target.", []string{"namespace", "target"}, nil)
)

// StateCollector exports flinkgate_deployment_targets and flinkgate_deployments.
type StateCollector struct{ State State }

// Describe implements prometheus.Collector.
func (c StateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- targetsDesc
	ch <- deploymentsDesc
}

// Collect implements prometheus.Collector.
func (c StateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(targetsDesc, prometheus.GaugeValue, float64(c.State.TargetCount()))
	c.State.EachTargetDeployments(func(ns, target string, n int) {
		ch <- prometheus.MustNewConstMetric(deploymentsDesc, prometheus.GaugeValue, float64(n), ns, target)
	})
}
