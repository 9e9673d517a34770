package flinkcluster

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's; registered once per process, set only by
// the leader.
type Metrics struct {
	deployments *prometheus.GaugeVec
	errors      *prometheus.CounterVec
	crdMissing  prometheus.Gauge
}

// Reasons of flinkgate_reconcile_errors_total.
const (
	ReasonConflict      = "conflict"
	ReasonTranslate     = "translate"
	ReasonForbidden     = "forbidden"
	ReasonInvalid       = "invalid"
	ReasonTargetMissing = "target_missing"
	ReasonAPI           = "api"
	// ReasonUnpatched: the stored document is not the one the mutating
	// webhook patched (its digest does not match), so it is not translated.
	ReasonUnpatched = "unpatched"
	// ReasonAdmissionDenied: an admission webhook (or policy) refused the
	// FlinkDeployment's write; ReasonNamespaceTerminating: its namespace
	// is being deleted. Neither is an RBAC refusal.
	ReasonAdmissionDenied      = "admission_denied"
	ReasonNamespaceTerminating = "namespace_terminating"
	// ReasonPlatformNamespace: the Deployment's stored target namespace is
	// the platform namespace, which admission denies now but may have
	// stored before the operator was turned on.
	ReasonPlatformNamespace = "platform_namespace"
	// ReasonTargetUnauthorized: the target lacks the record that its
	// creator passed the flinkdeployments check (created before the
	// operator was on).
	ReasonTargetUnauthorized = "target_unauthorized"
)

// Reasons are the values of flinkgate_reconcile_errors_total's reason label.
var Reasons = []string{ReasonConflict, ReasonTranslate, ReasonForbidden, ReasonInvalid, ReasonTargetMissing, ReasonAPI,
	ReasonUnpatched, ReasonAdmissionDenied, ReasonNamespaceTerminating, ReasonPlatformNamespace,
	ReasonTargetUnauthorized}

// NewMetrics registers flinkgate_flink_deployments{state},
// flinkgate_reconcile_errors_total{reason} and
// flinkgate_flink_operator_crd_missing; both labels take a fixed set of
// values (States, Reasons).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		deployments: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flinkgate_flink_deployments",
			Help: "Deployments by the state of their FlinkDeployment (UNKNOWN: the last reconcile failed); exported with --flink-operator=on by the replica that leads.",
		}, []string{"state"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flinkgate_reconcile_errors_total",
			Help: "Failed reconciles of Deployments into FlinkDeployments (--flink-operator=on), by reason (conflict, translate, forbidden, invalid, target_missing, api, unpatched, admission_denied, namespace_terminating, platform_namespace, target_unauthorized).",
		}, []string{"reason"}),
		crdMissing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flinkgate_flink_operator_crd_missing",
			Help: "1 while the leader waits for the API server to serve flinkdeployments.flink.apache.org (--flink-operator=on).",
		}),
	}
	for _, c := range []prometheus.Collector{m.deployments, m.errors, m.crdMissing} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register flink reconciler metrics: %w", err)
		}
	}
	for _, r := range Reasons {
		m.errors.WithLabelValues(r)
	}
	return m, nil
}

// setState records a Deployment's state for the gauge; "" forgets it.
func (r *reconciler) setState(key, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.states[key]
	if had && old == state {
		return
	}
	if had {
		r.counts[old]--
		r.cfg.Metrics.deployments.WithLabelValues(old).Set(float64(r.counts[old]))
		delete(r.states, key)
	}
	if state != "" {
		r.states[key] = state
		r.counts[state]++
		r.cfg.Metrics.deployments.WithLabelValues(state).Set(float64(r.counts[state]))
	}
}
