package webhook

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// This file turns a decision into the answer, its metric and its log line.

// response builds the answer; the decision it returns is the one actually
// sent (an allowed object whose patch cannot be computed becomes an error),
// so metrics and logs agree with the API server. The answer's audit
// annotations are returned apart, for the answer writer; admitRequest puts
// them into the response.
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
		if len(patch) > maxPatchBytes {
			return s.response(req, before, policy.Denied(policy.ReasonTooLarge, "the patch that stores this object would be %d bytes, more than flinkgate answers with (%d); the document escapes to too much JSON, so shorten it or drop control characters from it", len(patch), maxPatchBytes).WithTarget(d.Target), nil)
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
