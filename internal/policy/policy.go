// Package policy holds flinkgate's admission rules as plain functions: each
// takes a typed request (and whatever the router looked up for it) and
// returns a Decision. Nothing here does I/O.
package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// Stage is which webhook asks: the mutating one may change the object, the
// validating one sees the final object and is the authority.
type Stage string

const (
	StageMutate   Stage = "mutate"
	StageValidate Stage = "validate"
)

// Operation is the admission operation, as the AdmissionRequest names it.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Reason is why a request was denied. Its values are a small fixed set,
// because they are a metric label.
type Reason string

const (
	ReasonNone           Reason = ""
	ReasonInvalid        Reason = "invalid"
	ReasonImmutable      Reason = "immutable"
	ReasonReferenced     Reason = "referenced"
	ReasonTargetNotFound Reason = "target_not_found"
	// ReasonTargetTerminating: a deployment may not newly reference a target
	// that is being deleted.
	ReasonTargetTerminating Reason = "target_terminating"
	ReasonPatchFailed       Reason = "patch_failed"
	ReasonTooLarge          Reason = "too_large"
	ReasonRBAC              Reason = "rbac_preflight"
	// ReasonForbidden: the requesting user may not act on the virtual
	// resource (authz), as opposed to the platform lacking access (RBAC).
	ReasonForbidden   Reason = "forbidden"
	ReasonUnavailable Reason = "unavailable"
	ReasonInternal    Reason = "internal"
)

// Reasons lists every Reason a denial can carry, for metrics that start at zero.
var Reasons = []Reason{ReasonInvalid, ReasonImmutable, ReasonReferenced, ReasonTargetNotFound,
	ReasonTargetTerminating, ReasonPatchFailed, ReasonTooLarge, ReasonRBAC, ReasonForbidden, ReasonUnavailable, ReasonInternal}

// Request is what every policy knows about an admission request.
type Request struct {
	Stage     Stage
	Operation Operation
	Namespace string
	// Name is the request's name; for a DELETE through deletecollection it
	// is empty, so policies use the old object's name.
	Name string
	// Old is the stored object (UPDATE, DELETE); New the one to store
	// (CREATE, UPDATE). Either may be nil.
	Old, New *corev1.ConfigMap
	// PlatformNamespace is where flinkgate runs; targets without a namespace
	// run their Flink clusters there.
	PlatformNamespace string
	// ByFlinkgate is set when flinkgate's own identity sent the request.
	ByFlinkgate bool
	// FlinkOperator is flinkgate's Flink operator setting; the zero value
	// is off.
	FlinkOperator FlinkOperator
}

// Decision is a policy's answer.
type Decision struct {
	Allowed  bool
	Reason   Reason
	Message  string
	Warnings []string
	// Object is the ConfigMap to store, when the mutating webhook changes it.
	Object *corev1.ConfigMap
	// Target names the DeploymentTarget involved, for logs and audit.
	Target string
}

// Allowed is an allowing decision with warnings.
func Allowed(warnings ...string) Decision { return Decision{Allowed: true, Warnings: warnings} }

// Denied is a denying decision with a formatted message.
func Denied(reason Reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WithTarget returns d naming the target involved.
func (d Decision) WithTarget(name string) Decision {
	d.Target = name
	return d
}

// documentReason is the reason to deny a document (or patched document)
// that could not be read or written: a bound it exceeds, the request's
// deadline passing, or else fallback.
func documentReason(err error, fallback Reason) Reason {
	var tl *resource.TooLargeError
	switch {
	case errors.As(err, &tl):
		return ReasonTooLarge
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return ReasonUnavailable
	}
	return fallback
}

// timedOut is the remedy for a request whose deadline passed mid-way.
const timedOut = "flinkgate ran out of the time the API server gave this request; try again"

// withEntry returns m with k=v, copying m so the caller's map is untouched.
func withEntry(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[k] = v
	return out
}

// BoundsDoc is where a too_large denial sends its reader: the bounds table
// of the security guide. The heading's anchor is kept stable, and a test in
// docs/ fails when it no longer exists.
const BoundsDoc = "docs/security.md#bounds"
