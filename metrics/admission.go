// Package metrics defines the Prometheus metrics flinkgate exports about
// admission and the state it serves; every label value is mapped onto a
// fixed set before use.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flinkgate.io/flinkgate/resource"
)

// Admission counts and times admission answers (SPEC section 4).
type Admission struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	denials  *prometheus.CounterVec
}

// The kind label's values beyond the two kinds: the kind label is user input.
const (
	kindNone  = "none"
	kindOther = "other"
)

// NewAdmission builds the admission metrics and registers them.
func NewAdmission(reg prometheus.Registerer) (*Admission, error) {
	m := &Admission{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flinkgate_admission_requests_total",
			Help: "Admission requests answered, by webhook, kind, operation and result (allowed, denied, error).",
		}, []string{"webhook", "kind", "operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flinkgate_admission_duration_seconds",
			Help: "Time to answer an admission request, including cache and API look-ups.",
			// Answers are usually sub-millisecond; live look-ups and the RBAC
			// preflight take up to seconds.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"webhook", "kind", "operation"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flinkgate_admission_denials_total",
			Help: "Denied admission requests, by kind, operation and reason.",
		}, []string{"kind", "operation", "reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.denials} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Result is the outcome label of an answer.
type Result string

const (
	ResultAllowed Result = "allowed"
	ResultDenied  Result = "denied"
	ResultError   Result = "error"
)

// Observe records one answer. reason is empty for allowed answers and comes
// from a fixed set otherwise.
func (m *Admission) Observe(webhook, kind, operation string, result Result, reason string, took time.Duration) {
	kind = KindLabel(kind)
	op := OperationLabel(operation)
	m.requests.WithLabelValues(webhook, kind, op, string(result)).Inc()
	m.duration.WithLabelValues(webhook, kind, op).Observe(took.Seconds())
	if result != ResultAllowed {
		m.denials.WithLabelValues(kind, op, reason).Inc()
	}
}

// KindLabel bounds the kind label.
func KindLabel(kind string) string {
	switch kind {
	case resource.KindTarget, resource.KindDeployment:
		return kind
	case "":
		return kindNone
	default:
		return kindOther
	}
}

// OperationLabel bounds the operation label.
func OperationLabel(op string) string {
	switch op {
	case "CREATE", "UPDATE", "DELETE", "CONNECT":
		return op
	default:
		return "other"
	}
}
