// This file is over 400 lines because it is the one place a request is handled: reading the
// review, routing it to the policies with the facts they need, and building the answer.

// Package webhook answers Kubernetes admission reviews for DeploymentTargets
// and Deployments stored as ConfigMaps: HTTP handling once, policies as plain
// functions.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// DefaultMaxBodyBytes bounds an AdmissionReview: an UPDATE carries the old
// and new ConfigMap, each up to 1 MiB, and JSON escaping can double them.
const DefaultMaxBodyBytes = 6 << 20

// MaxPatchBytes bounds the JSON patch of an answer, as a backstop: the
// patched document is at most 1 MiB (the codec stops there) and JSON
// escaping at most doubles it, so real patches stay near 2 MiB; no answer
// may be larger than the largest review flinkgate reads.
const MaxPatchBytes = DefaultMaxBodyBytes

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
	MaxBodyBytes int64 // 0: DefaultMaxBodyBytes
	// ReviewMemory is what the reviews being decided may allocate at once
	// (see reviewCost); 0: half the Go memory limit, or
	// defaultReviewMemory without one.
	ReviewMemory int64
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
const largeBodyBudget = 4 * DefaultMaxBodyBytes

// NewServer builds a Server and registers its metrics.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
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

// largeWeight is what a review holds of the large-review budget: nothing
// for a usual one, its declared size for a large one, the most a body may
// be when the size is not declared or over the limit.
func (s *Server) largeWeight(r *http.Request) int64 {
	switch n := r.ContentLength; {
	case n >= 0 && n <= maxPresizedBody:
		return 0
	case n > 0 && n <= s.cfg.MaxBodyBytes:
		return n
	}
	return s.cfg.MaxBodyBytes
}

// Handler serves POST /mutate and POST /validate.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mutate", s.handle(policy.StageMutate))
	mux.Handle("/validate", s.handle(policy.StageValidate))
	return mux
}

// httpError is a request that is not a readable AdmissionReview.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (s *Server) handle(stage policy.Stage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The review's time counts from its arrival, as the API server's
		// does: reading and waiting use it up too.
		ctx, cancel := requestContext(r)
		defer cancel()
		if weight := s.largeWeight(r); weight > 0 {
			if err := s.large.Acquire(ctx, weight); err != nil {
				s.cfg.Logger.Warn("large admission review refused", zap.String("webhook", string(stage)), zap.Int64("declared_bytes", r.ContentLength))
				http.Error(w, "too many large admission reviews are being read at once; try again", http.StatusServiceUnavailable)
				return
			}
			defer s.large.Release(weight)
		}
		rv, body, err := decodeRequest(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				he = &httpError{status: http.StatusBadRequest, msg: err.Error()}
			}
			s.cfg.Logger.Warn("unreadable admission review", zap.String("webhook", string(stage)), zap.Int("status", he.status), zap.String("error", he.msg))
			http.Error(w, he.msg, he.status)
			return
		}
		// The review waits for its share of the deciding budget while its
		// deadline leaves time to answer; if the share does not come, it is
		// answered that flinkgate is busy, which the API server shows the
		// user, rather than left to time out.
		cost := min(reviewCost(len(body)), s.reviewMemory)
		if err := s.acquireDeciding(ctx, cost); err != nil {
			s.cfg.Logger.Warn("admission review refused: too many reviews are being decided at once",
				zap.String("webhook", string(stage)), zap.String("uid", string(rv.Request.UID)), zap.Int("body_bytes", len(body)), zap.Int64("cost_bytes", cost), zap.Error(err))
			d := policy.Denied(policy.ReasonUnavailable, "flinkgate is deciding too many reviews at once to take this one (%d bytes) before its timeout; try again, and if it persists, run more flinkgate replicas or give them more memory", len(body))
			resp, notes, _ := s.response(rv.Request, nil, d, nil)
			s.metrics.Observe(string(stage), "", string(rv.Request.Operation), result(d), string(d.Reason), time.Since(start))
			s.writeAnswer(w, body, rv, resp, &notes)
			return
		}
		defer s.deciding.Release(cost)
		var patchBuf []byte
		cb := connBufferOf(r)
		if cb != nil {
			patchBuf = cb.patch
		}
		resp, notes := s.admit(ctx, stage, rv, start, patchBuf)
		s.writeAnswer(w, body, rv, resp, &notes)
		// The connection keeps the patch's buffer too: the patch was only
		// written into the answer, and resp is dropped here.
		if cb != nil {
			cb.keep(&cb.patch, resp.Patch)
		}
	}
}

// writeAnswer writes the answer over the body, usually larger, so it
// needs no buffer of its own: the review keeps no bytes of the body
// (TestDecodedReviewsKeepNoBytesOfTheBody).
func (s *Server) writeAnswer(w http.ResponseWriter, body []byte, rv *wire.Review, resp *admissionv1.AdmissionResponse, notes *wire.Notes) {
	out, err := wire.AppendAnswer(body, rv.TypeMeta, resp, notes)
	if err != nil {
		http.Error(w, "encode admission response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// answerReserve is the part of a review's time left that waiting for the
// deciding budget leaves to deciding and answering: a quarter, at most
// two seconds, since on a busy replica the CPU for both is shared with
// the reviews that got their share.
func answerReserve(left time.Duration) time.Duration {
	return min(left/4, 2*time.Second)
}

// maxDecidingWait bounds the wait of a review without a deadline: the API
// server always sends one (its default webhook timeout is 10s).
const maxDecidingWait = 10 * time.Second

// acquireDeciding takes cost bytes of the deciding budget, waiting while
// the review's deadline leaves answerReserve of its time.
func (s *Server) acquireDeciding(ctx context.Context, cost int64) error {
	if s.deciding.TryAcquire(cost) {
		return nil
	}
	wait := time.Now().Add(maxDecidingWait)
	if d, ok := ctx.Deadline(); ok {
		wait = d.Add(-answerReserve(time.Until(d)))
	}
	wctx, cancel := context.WithDeadline(ctx, wait)
	defer cancel()
	if err := s.deciding.Acquire(wctx, cost); err != nil {
		return fmt.Errorf("wait for %d bytes of the deciding budget: %w", cost, err)
	}
	return nil
}

// requestContext ends when the API server stops waiting: it closes the
// connection (which ends the request's own context), or the timeout it
// sends as a query parameter (?timeout=10s) passes, so decoding and
// patching stop with it.
func requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	if d, err := time.ParseDuration(queryValue(r.URL, "timeout")); err == nil && d > 0 {
		return context.WithTimeout(r.Context(), d)
	}
	return r.Context(), func() {}
}

// queryValue is u.Query().Get(key) without building the map of every
// parameter: a query that needs unescaping, or that has a semicolon
// (which url.ParseQuery refuses pair by pair), is left to it.
func queryValue(u *url.URL, key string) string {
	q := u.RawQuery
	if strings.ContainsAny(q, "%+;") {
		return u.Query().Get(key)
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if k, v, _ := strings.Cut(pair, "="); k == key {
			return v
		}
	}
	return ""
}

// Admit answers one admission request as POST /mutate (StageMutate) or
// POST /validate (StageValidate) would, counted and logged the same way; it
// is the entry point for callers that hold the request without HTTP.
func (s *Server) Admit(ctx context.Context, stage policy.Stage, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	rv := &wire.Review{Request: req}
	rv.Old, rv.OldErr = wire.DecodeConfigMap(req.OldObject)
	rv.Object, rv.ObjectErr = wire.DecodeConfigMap(req.Object)
	resp, notes := s.admit(ctx, stage, rv, time.Now(), nil)
	resp.AuditAnnotations = notes.Annotations()
	return resp
}

// admit decides and answers; the patch is written over patchBuf if it has
// the room.
func (s *Server) admit(ctx context.Context, stage policy.Stage, rv *wire.Review, start time.Time, patchBuf []byte) (*admissionv1.AdmissionResponse, wire.Notes) {
	req := rv.Request
	d, kind, before := s.decideSafely(ctx, stage, rv)
	resp, notes, d := s.response(req, before, d, patchBuf)
	took := time.Since(start)
	s.metrics.Observe(string(stage), kind, string(req.Operation), result(d), string(d.Reason), took)
	s.log(stage, req, objectName(rv), kind, d, took)
	return resp, notes
}

// objectName is the name a decision is about: the request's, or, for the
// items of a deletecollection (whose requests name none), the old object's.
func objectName(rv *wire.Review) string {
	switch {
	case rv.Request.Name != "":
		return rv.Request.Name
	case rv.Old != nil:
		return rv.Old.Name
	case rv.Object != nil:
		return rv.Object.Name
	}
	return ""
}

// decodeRequest reads and decodes the review; it also returns the body,
// whose bytes the review does not use.
func decodeRequest(w http.ResponseWriter, r *http.Request, limit int64) (*wire.Review, []byte, error) {
	if r.Method != http.MethodPost {
		return nil, nil, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed; send the AdmissionReview with POST", r.Method)}
	}
	// The API server's exact content type needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not supported; send application/json", ct)}
		}
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit)}
		}
		return nil, nil, &httpError{http.StatusBadRequest, fmt.Sprintf("read request body: %v", err)}
	}
	rv, err := wire.DecodeReview(body)
	return rv, body, err
}

// readBody reads at most limit bytes. A declared length up to
// maxPresizedBody sizes the buffer at once (the API server always declares
// it, and reviews are a few KiB); beyond that the buffer grows with what
// actually arrives, since the declaration is the sender's word and any pod
// can open a connection declaring the limit and send nothing. On a
// connection from ConnContext the buffer is the connection's, kept for its
// next request when it is at most maxConnBuffer.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	size := int64(512)
	if n := r.ContentLength; n > 0 {
		size = min(n+1, maxPresizedBody) // a spare byte reads the EOF without a grow
	}
	cb := connBufferOf(r)
	var buf []byte
	if cb != nil && int64(cap(cb.buf)) >= size {
		buf = cb.buf[:0]
	} else {
		buf = make([]byte, 0, size)
	}
	buf, err := readAll(body, buf)
	if cb != nil && err == nil {
		cb.keep(&cb.buf, buf)
	}
	return buf, err
}

// readAll appends what r sends to buf until EOF.
func readAll(body io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grows as the bytes arrive
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maxPresizedBody bounds what a declared Content-Length reserves before the
// bytes arrive.
const maxPresizedBody = 64 << 10

// maxConnBuffer bounds each buffer (body, patch) a connection keeps
// between its requests: a usual review fits, and an idle connection holds
// no more than about what net/http and TLS already hold for it.
const maxConnBuffer = 16 << 10

// connBuffer is a connection's body and patch buffers. An HTTP/1.1
// connection serves one request at a time, and a request's buffers are
// free once its handler returns: the review keeps no bytes of the body
// (TestDecodedReviewsKeepNoBytesOfTheBody), the patch is only written into
// the answer, and the answer written over the body is copied by
// ResponseWriter.Write.
type connBuffer struct{ buf, patch []byte } // their capacities count in keptBytes

// maxKeptBytes bounds what all connections keep between requests together:
// about 1,000 connections' usual reviews. Any pod can open connections, and
// each one that sent a review of 16 KiB would otherwise keep 32 KiB until
// it closes; beyond the bound, requests allocate their buffers as before.
const maxKeptBytes = 32 << 20

var (
	keptBytes atomic.Int64
	connBufs  sync.Map // net.Conn → *connBuffer, to give back kept bytes at close
)

// keep makes b (emptied) the connection's buffer in *slot when it is larger
// than the one kept there, at most maxConnBuffer, and all connections
// together stay within maxKeptBytes.
func (cb *connBuffer) keep(slot *[]byte, b []byte) {
	grow := int64(cap(b) - cap(*slot))
	if cap(b) > maxConnBuffer || grow <= 0 {
		return
	}
	if keptBytes.Add(grow) > maxKeptBytes {
		keptBytes.Add(-grow)
		return
	}
	*slot = b[:0]
}

type connBufferKey struct{}

// ConnContext is an http.Server's ConnContext that gives each connection a
// body buffer reused by its requests, so a usual review allocates none. The
// server must also use ConnState, which gives back what a closed
// connection kept.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	cb := &connBuffer{}
	if c != nil {
		connBufs.Store(c, cb)
	}
	return context.WithValue(ctx, connBufferKey{}, cb)
}

// ConnState is an http.Server's ConnState that gives back the bytes a
// closed connection kept.
func ConnState(c net.Conn, state http.ConnState) {
	if state != http.StateClosed && state != http.StateHijacked {
		return
	}
	if v, ok := connBufs.LoadAndDelete(c); ok {
		cb := v.(*connBuffer)
		// Its requests are over: no handler of this connection runs.
		keptBytes.Add(-int64(cap(cb.buf) + cap(cb.patch)))
		cb.buf, cb.patch = nil, nil
	}
}

// connBufferOf is r's connection's buffer; nil without ConnContext or for
// a protocol that may serve requests of one connection at once.
func connBufferOf(r *http.Request) *connBuffer {
	if r.ProtoMajor != 1 {
		return nil
	}
	cb, _ := r.Context().Value(connBufferKey{}).(*connBuffer)
	return cb
}

// decideSafely runs the policies on the request's objects; a panic becomes
// an error answer for this request only. It also returns the decoded
// object, which a mutating answer's patch is computed against.
func (s *Server) decideSafely(ctx context.Context, stage policy.Stage, rv *wire.Review) (d policy.Decision, kind string, cm *corev1.ConfigMap) {
	req := rv.Request
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("panic while deciding", zap.String("uid", string(req.UID)), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			d = policy.Denied(policy.ReasonInternal, "flinkgate failed internally while deciding this request; try again, and report it if it persists")
		}
	}()
	if req.Resource.Group != "" || req.Resource.Resource != "configmaps" {
		// Only a misconfigured webhook sends anything else; do not block it.
		return policy.Allowed(), "", nil
	}
	if rv.OldErr != nil {
		return policy.Denied(policy.ReasonInvalid, "the old object is not a ConfigMap: %v", rv.OldErr), "", nil
	}
	if rv.ObjectErr != nil {
		return policy.Denied(policy.ReasonInvalid, "the object is not a ConfigMap: %v", rv.ObjectErr), "", nil
	}
	old, cm := rv.Old, rv.Object
	r := policy.Request{
		Stage: stage, Operation: policy.Operation(req.Operation), Namespace: req.Namespace, Name: req.Name,
		Old: old, New: cm, PlatformNamespace: s.cfg.PlatformNamespace,
		ByFlinkgate: s.cfg.Self != "" && req.UserInfo.Username == s.cfg.Self,
	}
	route := policy.Classify(r)
	// A deployment's document is parsed once, for its target name (which
	// the authorization needs) and for the policy.
	var dep *resource.Deployment
	var depErr error
	if route.Rule == policy.RuleDeploymentWrite {
		dep, depErr = configmap.ParseDeploymentContext(ctx, r.New)
	}
	// Authorization comes before every policy, so a user who may not touch
	// a target hears "forbidden", not why the change would be wrong.
	if d, ok := s.authorize(ctx, req, r, route, dep); !ok {
		return d, route.Kind, cm
	}
	return s.decide(ctx, r, route, dep, depErr), route.Kind, cm
}

// authorize asks the authorizer every check the request needs, in order,
// and returns the denial of the first one refused or unanswered.
func (s *Server) authorize(ctx context.Context, req *admissionv1.AdmissionRequest, r policy.Request, route policy.Route, dep *resource.Deployment) (policy.Decision, bool) {
	if s.cfg.Authorizer == nil {
		return policy.Decision{}, true
	}
	ar := authz.Request{Operation: string(r.Operation), Kind: route.Kind, Name: r.Name}
	if r.Old != nil {
		ar.OldKind = r.Old.Labels[resource.LabelKind]
		// The label is flinkgate's record of the stored document's target:
		// the validating webhook insists that they match.
		ar.OldTarget = r.Old.Labels[resource.LabelDeploymentTarget]
		if ar.Name == "" { // a DELETE through deletecollection
			ar.Name = r.Old.Name
		}
		if r.New != nil {
			ar.DocumentChanged = !maps.Equal(r.Old.Data, r.New.Data) || !maps.EqualFunc(r.Old.BinaryData, r.New.BinaryData, bytes.Equal)
		}
	}
	if dep != nil {
		ar.NewTarget = dep.TargetName
	}
	checks := authz.Required(ar)
	if len(checks) == 0 {
		return policy.Decision{}, true
	}
	user := authz.User{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups}
	if len(req.UserInfo.Extra) > 0 {
		user.Extra = make(map[string][]string, len(req.UserInfo.Extra))
		for k, v := range req.UserInfo.Extra {
			user.Extra[k] = v
		}
	}
	for _, c := range checks {
		ok, err := s.cfg.Authorizer.Allowed(ctx, authz.Attributes{User: user, Namespace: r.Namespace, Check: c})
		if err != nil || !ok {
			return policy.Unauthorized(user.Name, r.Namespace, c.Verb, c.Resource, c.Name, err), false
		}
	}
	return policy.Decision{}, true
}

// decide gathers what the route's policy needs (parsed documents, look-ups,
// the preflight) and asks it.
func (s *Server) decide(ctx context.Context, r policy.Request, route policy.Route, dep *resource.Deployment, depErr error) policy.Decision {
	switch route.Rule {
	case policy.RuleTargetCreate:
		t, err := configmap.ParseTargetContext(ctx, r.New)
		if err != nil {
			return policy.InvalidTarget(err)
		}
		if r.Stage == policy.StageMutate {
			return policy.TargetCreateMutate(r, t)
		}
		return policy.TargetCreateValidate(r, t, s.access(ctx, t.ResolvedNamespace(r.PlatformNamespace)))
	case policy.RuleTargetUpdate:
		if r.Stage == policy.StageMutate {
			return policy.TargetUpdateMutate(r)
		}
		d := policy.TargetUpdateValidate(r)
		if d.Allowed && policy.RemovesFinalizer(r) {
			if held, ok := policy.FinalizerRemovalSettling(r, s.cfg.Now(), s.cfg.ProtectionSettle); ok {
				return held
			}
			refs, err := s.cfg.Lookup.Referrers(ctx, r.Namespace, r.Old.Name)
			d = policy.FinalizerRemovalValidate(r, refs, err)
		}
		return d
	case policy.RuleTargetDelete:
		refs, err := s.cfg.Lookup.Referrers(ctx, r.Namespace, r.Old.Name)
		return policy.TargetDeleteValidate(r, refs, err)
	case policy.RuleDeploymentWrite:
		if depErr != nil {
			return policy.InvalidDeployment(r, depErr)
		}
		found := s.cfg.Lookup.Target(ctx, r.Namespace, dep.TargetName)
		if r.Stage == policy.StageMutate {
			return policy.DeploymentWriteMutate(ctx, r, dep, found)
		}
		if found.Target != nil && !found.Target.Terminating && !found.Live && policy.NewReference(r, dep) {
			found = s.cfg.Lookup.TargetLive(ctx, r.Namespace, dep.TargetName)
		}
		return policy.DeploymentWriteValidate(r, dep, found)
	}
	return route.Decision
}

// access runs the RBAC preflight for a namespace; in off mode the preflight
// itself returns (and counts) a skipped result.
func (s *Server) access(ctx context.Context, namespace string) policy.Access {
	if s.cfg.Preflight == nil {
		return policy.Access{}
	}
	r := s.cfg.Preflight.Check(ctx, namespace)
	return policy.Access{Problem: r.Problem(), Unavailable: r.Outcome == rbac.OutcomeUnavailable, Enforce: s.cfg.Preflight.Mode() == rbac.ModeEnforce}
}

// response builds the answer; the decision it returns is the one actually
// sent (an allowed object whose patch cannot be computed becomes an error),
// so metrics and logs agree with the API server. The answer's audit
// annotations are returned apart, for the answer writer; Admit puts them
// into the response.
func (s *Server) response(req *admissionv1.AdmissionRequest, before *corev1.ConfigMap, d policy.Decision, patchBuf []byte) (*admissionv1.AdmissionResponse, wire.Notes, policy.Decision) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: d.Allowed, Warnings: d.Warnings}
	notes := wire.Notes{Target: d.Target}
	if !d.Allowed {
		notes.Denied, notes.Reason = true, string(d.Reason)
		code := int32(http.StatusForbidden)
		reason := metav1.StatusReasonForbidden
		switch d.Reason {
		case policy.ReasonInternal:
			code, reason = http.StatusInternalServerError, metav1.StatusReasonInternalError
		case policy.ReasonUnavailable:
			code, reason = http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable
		}
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: d.Message}
	}
	if d.Allowed && d.Object != nil {
		patch, err := wire.AppendPatch(patchBuf, before, d.Object)
		if err != nil {
			s.cfg.Logger.Error("computing the admission patch failed", zap.String("uid", string(req.UID)), zap.Error(err))
			return s.response(req, before, policy.Denied(policy.ReasonInternal, "flinkgate could not compute the patch for this object; try again").WithTarget(d.Target), nil)
		}
		if len(patch) > MaxPatchBytes {
			return s.response(req, before, policy.Denied(policy.ReasonTooLarge, "the patch that stores this object would be %d bytes, more than flinkgate answers with (%d); the document escapes to too much JSON, so shorten it or drop control characters from it", len(patch), MaxPatchBytes).WithTarget(d.Target), nil)
		}
		if len(patch) > 0 {
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = patch, &pt
			notes.Patched = true
		}
	}
	return resp, notes, d
}

// result is the metric outcome of a decision: unavailable look-ups and
// internal failures are errors, not denials of the user's request.
func result(d policy.Decision) metrics.Result {
	switch {
	case d.Reason == policy.ReasonInternal || d.Reason == policy.ReasonUnavailable:
		return metrics.ResultError
	case !d.Allowed:
		return metrics.ResultDenied
	}
	return metrics.ResultAllowed
}

func (s *Server) log(stage policy.Stage, req *admissionv1.AdmissionRequest, name, kind string, d policy.Decision, took time.Duration) {
	// Check first: above info level the fields are never built.
	ce := s.cfg.Logger.Check(zap.InfoLevel, "admission decision")
	if ce == nil {
		return
	}
	fields := []zap.Field{
		zap.String("webhook", string(stage)),
		zap.String("uid", string(req.UID)),
		zap.String("user", req.UserInfo.Username),
		zap.String("operation", string(req.Operation)),
		zap.String("namespace", req.Namespace),
		zap.String("name", name),
		zap.String("kind", kind),
		zap.Bool("allowed", d.Allowed),
		zap.String("reason", string(d.Reason)),
		zap.Bool("dry_run", req.DryRun != nil && *req.DryRun),
		zap.Duration("duration", took),
	}
	if d.Target != "" {
		fields = append(fields, zap.String("target", d.Target))
	}
	if !d.Allowed {
		fields = append(fields, zap.String("message", d.Message))
	}
	if len(d.Warnings) > 0 {
		fields = append(fields, zap.Strings("warnings", d.Warnings))
	}
	ce.Write(fields...)
}
