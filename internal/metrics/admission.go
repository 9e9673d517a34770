// Package metrics defines the Prometheus metrics flinkgate exports about
// admission and the state it serves; every label value is mapped onto a
// fixed set before use.
package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"flinkgate.io/flinkgate/internal/resource"
)

// Admission counts and times admission answers (SPEC section 4).
type Admission struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	denials  *prometheus.CounterVec
	// series holds the request counters and duration histograms of each
	// bounded label set once it is first used, since WithLabelValues
	// hashes its labels and takes a lock on every call. Nothing is created
	// before its first use, so /metrics shows the same series as without it.
	series [len(webhookLabels)][len(kindLabels)][len(operationLabels)]seriesSet
}

// seriesSet is the series of one webhook, kind and operation.
type seriesSet struct {
	duration atomic.Pointer[prometheus.Observer]
	requests [len(resultLabels)]atomic.Pointer[prometheus.Counter]
}

// The bounded label values, in the order of Admission.series.
var (
	webhookLabels   = [...]string{"mutate", "validate"}
	kindLabels      = [...]string{resource.KindTarget, resource.KindDeployment, kindNone, kindOther}
	operationLabels = [...]string{"CREATE", "UPDATE", "DELETE", "CONNECT", "other"}
	resultLabels    = [...]Result{ResultAllowed, ResultDenied, ResultError}
)

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
	m.requestsCounter(webhook, kind, op, result).Inc()
	m.durationObserver(webhook, kind, op).Observe(took.Seconds())
	if result != ResultAllowed {
		m.denials.WithLabelValues(kind, op, reason).Inc()
	}
}

// seriesOf is the cached series of a label set, nil for a webhook the
// cache does not know.
func (m *Admission) seriesOf(webhook, kind, op string) *seriesSet {
	w, k, o := index(webhookLabels[:], webhook), index(kindLabels[:], kind), index(operationLabels[:], op)
	if w < 0 || k < 0 || o < 0 {
		return nil
	}
	return &m.series[w][k][o]
}

func (m *Admission) requestsCounter(webhook, kind, op string, result Result) prometheus.Counter {
	s, r := m.seriesOf(webhook, kind, op), index(resultLabels[:], result)
	if s == nil || r < 0 {
		return m.requests.WithLabelValues(webhook, kind, op, string(result))
	}
	if c := s.requests[r].Load(); c != nil {
		return *c
	}
	// Two first uses at once resolve the same child; either may be kept.
	c := m.requests.WithLabelValues(webhook, kind, op, string(result))
	s.requests[r].Store(&c)
	return c
}

func (m *Admission) durationObserver(webhook, kind, op string) prometheus.Observer {
	s := m.seriesOf(webhook, kind, op)
	if s == nil {
		return m.duration.WithLabelValues(webhook, kind, op)
	}
	if o := s.duration.Load(); o != nil {
		return *o
	}
	o := m.duration.WithLabelValues(webhook, kind, op)
	s.duration.Store(&o)
	return o
}

// index is the position of v in values, or -1.
func index[T comparable](values []T, v T) int {
	for i, x := range values {
		if x == v {
			return i
		}
	}
	return -1
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
