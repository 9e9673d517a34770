package webhook

import (
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"flinkgate.io/flinkgate/resource"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the admission metrics of SPEC section 4. Every label value is
// mapped onto a fixed set before use.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	denials  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
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

func (m *metrics) observe(webhook string, kind string, op admissionv1.Operation, d Decision, took time.Duration) {
	kind = kindLabel(kind)
	opl := operationLabel(op)
	result := "allowed"
	switch {
	case d.Reason == ReasonInternal || d.Reason == ReasonUnavailable:
		result = "error"
	case !d.Allowed:
		result = "denied"
	}
	m.requests.WithLabelValues(webhook, kind, opl, result).Inc()
	m.duration.WithLabelValues(webhook, kind, opl).Observe(took.Seconds())
	if !d.Allowed {
		m.denials.WithLabelValues(kind, opl, string(d.Reason)).Inc()
	}
}

// kindLabel bounds the kind label: the kind label's value is user input.
func kindLabel(kind string) string {
	switch kind {
	case resource.KindTarget, resource.KindDeployment:
		return kind
	case "":
		return "none"
	default:
		return "other"
	}
}

func operationLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	default:
		return "other"
	}
}
