// Package webhook answers Kubernetes admission reviews for DeploymentTargets
// and Deployments stored as ConfigMaps: HTTP handling once, policies as plain
// functions.
package webhook

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// defaultMaxBodyBytes bounds an AdmissionReview: an UPDATE carries the old
// and new ConfigMap, each up to 1 MiB, and JSON escaping can double them.
const defaultMaxBodyBytes = 6 << 20

// maxPatchBytes bounds the JSON patch of an answer, as a backstop: the
// patched document is at most 1 MiB (the codec stops there) and JSON
// escaping at most doubles it, so real patches stay near 2 MiB; no answer
// may be larger than the largest review flinkgate reads.
const maxPatchBytes = defaultMaxBodyBytes

// Lookup is what the policies need to know beyond the request, answered from
// the caches and confirmed against the API server where a stale answer
// would be wrong.
type Lookup interface {
	// Target finds a DeploymentTarget by name.
	Target(ctx context.Context, namespace, name string) resource.TargetLookup
	// Referrers lists the deployments that reference a target, sorted; an
	// empty answer is confirmed live.
	Referrers(ctx context.Context, namespace, target string) ([]string, error)
	// TargetLive finds a DeploymentTarget with a live GET: a deployment that
	// newly references a target must not see a stale "not terminating",
	// since the protection controller's settle time counts from the
	// deletion, not from when a cache learns of it.
	TargetLive(ctx context.Context, namespace, name string) resource.TargetLookup
}

// Preflight checks the platform's access to a target namespace. It owns
// its mode: with off, Check returns a skipped result without asking.
type Preflight interface {
	Check(ctx context.Context, namespace string) rbac.Result
	Mode() rbac.Mode
}

// Config configures a Server.
type Config struct {
	Logger    *zap.Logger
	Lookup    Lookup
	Preflight Preflight // nil: no preflight
	// Authorizer says whether the requesting user may act on flinkgate's
	// virtual resources; nil allows everyone (--authorization=off).
	Authorizer        authz.Authorizer
	PlatformNamespace string
	// Self is flinkgate's own user name (from a SelfSubjectReview); its
	// requests may remove the in-use protection finalizer. Empty: none.
	Self string
	// ProtectionSettle is how long a target must have been terminating
	// before anyone but flinkgate may remove its in-use finalizer: the
	// protection controller's --protection-settle.
	ProtectionSettle time.Duration
	// Now is the clock the settle time is measured with; nil: time.Now.
	Now          func() time.Time
	Registerer   prometheus.Registerer
	MaxBodyBytes int64 // 0: defaultMaxBodyBytes
	// ReviewMemory is what the reviews being decided may allocate at once
	// (see reviewCost); 0: half the Go memory limit, or
	// defaultReviewMemory without one.
	ReviewMemory int64
	// FlinkOperator is --flink-operator with --flink-service-account: when
	// on, a deployment write that changes the document is denied unless it
	// can become a FlinkDeployment. The zero value is off.
	FlinkOperator policy.FlinkOperator
}

// Server is the admission webhook.
type Server struct {
	cfg     Config
	metrics *metrics.Admission
	// large bounds the bytes of large reviews being read and decided at
	// once: any pod can reach the port, and each large body costs about
	// twice its size while it arrives and more while it is decoded.
	large *semaphore.Weighted
	// deciding bounds what the reviews being decided may allocate at once,
	// each weighed by reviewCost: every review holds its share from the
	// end of its body until its answer is written.
	deciding     *semaphore.Weighted
	reviewMemory int64
	// conns are the buffers the connections keep between requests
	// (ConnContext, ConnState).
	conns connBuffers
}

// reviewAmplification is the most a review's decoding, policy, patch and
// answer allocate per byte of its body, garbage included, over every
// document shape measured (TestReviewCostCoversEveryShape), with a fifth
// to spare: flow lists of one-key maps ({a}) in a document with a comment,
// which go-yaml's node tree reads and each become a Go map, are the most
// costly, at about 260 bytes per byte.
const reviewAmplification = 320

// maxReviewCost is the most one review allocates, whatever its size: the
// per-request budget of README "Bounds" (internal/budget.MaxAlloc), which
// the hostile corpus holds every document to. A document's values are
// bounded (codec.MaxValues), so beyond a size its cost grows only with its
// bytes, at far less than reviewAmplification.
const maxReviewCost = 64 << 20

// defaultReviewMemory is the deciding budget without a Go memory limit: it
// leaves half of the chart's 256 MiB default limit to the caches, buffers
// and runtime.
const defaultReviewMemory = 128 << 20

// reviewCost is what a review of n body bytes weighs in the deciding
// budget.
func reviewCost(n int) int64 {
	return min(int64(n)*reviewAmplification, maxReviewCost)
}

// reviewMemory is the deciding budget: half the Go memory limit
// (GOMEMLIMIT), so the collector keeps the heap under the limit while the
// budget is full, or defaultReviewMemory without a limit.
func reviewMemory() int64 {
	if limit := debug.SetMemoryLimit(-1); limit > 0 && limit < math.MaxInt64 {
		return limit / 2
	}
	return defaultReviewMemory
}

// largeBodyBudget is how many declared body bytes large reviews may hold
// at once: four reviews of the maximum size. Reviews declaring at most
// maxPresizedBody (every usual one) never wait for it.
const largeBodyBudget = 4 * defaultMaxBodyBytes

// NewServer builds a Server and registers its metrics.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = defaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := metrics.NewAdmission(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("register admission metrics: %w", err)
	}
	if cfg.ReviewMemory <= 0 {
		cfg.ReviewMemory = reviewMemory()
	}
	return &Server{
		cfg: cfg, metrics: m, large: semaphore.NewWeighted(max(largeBodyBudget, 4*cfg.MaxBodyBytes)),
		deciding: semaphore.NewWeighted(cfg.ReviewMemory), reviewMemory: cfg.ReviewMemory,
	}, nil
}

// Handler serves POST /mutate and POST /validate.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mutate", s.handle(policy.StageMutate))
	mux.Handle("/validate", s.handle(policy.StageValidate))
	return mux
}
