package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"

	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// This file holds the HTTP handler: the large-review and deciding budgets
// a review waits for, its deadline, and writing its answer.

// httpError is a request that is not a readable AdmissionReview.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// handle reads, decides and answers the reviews of one webhook stage.
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
