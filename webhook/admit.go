package webhook

import (
	"cmp"
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// This file decides a review: it gathers the facts a rule needs
// (authorization, parsed documents, look-ups, the preflight) and asks the
// rule in internal/policy.

// admitRequest answers one admission request as POST /mutate (StageMutate) or
// POST /validate (StageValidate) would, counted and logged the same way; it
// is how DryRun, which holds the request without HTTP, asks.
func (s *Server) admitRequest(ctx context.Context, stage policy.Stage, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
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
		ByFlinkgate:   s.cfg.Self != "" && req.UserInfo.Username == s.cfg.Self,
		FlinkOperator: s.cfg.FlinkOperator,
	}
	route := policy.Classify(r)
	// A new document is parsed once, for what the authorization needs (a
	// deployment's target name, a new target's namespace) and for the
	// policy.
	var doc parsed
	switch route.Rule {
	case policy.RuleDeploymentWrite:
		doc.dep, doc.err = configmap.ParseDeployment(ctx, r.New)
	case policy.RuleTargetCreate:
		doc.target, doc.err = configmap.ParseTarget(ctx, r.New)
	}
	// Authorization comes before every policy, so a user who may not touch
	// a target hears "forbidden", not why the change would be wrong.
	if d, ok := s.authorize(ctx, req, r, route, doc); !ok {
		return d, route.Kind, cm
	}
	return s.decide(ctx, r, route, doc), route.Kind, cm
}

// parsed is the request's new document, parsed once: a deployment's or a
// new target's, as the route says, or the error that made it unreadable.
type parsed struct {
	dep    *resource.Deployment
	target *resource.Target
	err    error
}

// authorize asks the authorizer every check the request needs, in order,
// and returns the denial of the first one refused or unanswered.
func (s *Server) authorize(ctx context.Context, req *admissionv1.AdmissionRequest, r policy.Request, route policy.Route, doc parsed) (policy.Decision, bool) {
	if s.cfg.Authorizer == nil {
		return policy.Decision{}, true
	}
	ar := authz.Request{Operation: string(r.Operation), Kind: route.Kind, Name: r.Name, FlinkOperator: r.FlinkOperator.On}
	if r.Old != nil {
		ar.OldKind = r.Old.Labels[resource.LabelKind]
		// The label is flinkgate's record of the stored document's target:
		// the validating webhook insists that they match.
		ar.OldTarget = r.Old.Labels[resource.LabelDeploymentTarget]
		if ar.Name == "" { // a DELETE through deletecollection
			ar.Name = r.Old.Name
		}
		ar.DocumentChanged = policy.DocumentChanged(r)
	}
	if doc.dep != nil {
		ar.NewTarget = doc.dep.TargetName
	}
	// A target in the platform namespace is denied by policy when the Flink
	// operator is on, with a better message than a missing grant there.
	if doc.target != nil && doc.target.ResolvedNamespace(r.PlatformNamespace) != r.PlatformNamespace {
		ar.TargetNamespace = doc.target.ResolvedNamespace(r.PlatformNamespace)
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
		ok, err := s.cfg.Authorizer.Allowed(ctx, authz.Attributes{User: user, Namespace: cmp.Or(c.Namespace, r.Namespace), Check: c})
		if err == nil && ok {
			continue
		}
		if c.Group == authz.GroupFlink {
			// The only check outside flinkgate.io: may the user have Flink
			// clusters created in a new target's namespace.
			return policy.UnauthorizedTargetNamespace(user.Name, cmp.Or(ar.Name, r.New.Name), c.Namespace, err), false
		}
		return policy.Unauthorized(user.Name, r.Namespace, c.Verb, c.Resource, c.Name, err), false
	}
	return policy.Decision{}, true
}

// decide gathers what the route's policy needs (parsed documents, look-ups,
// the preflight) and asks it.
func (s *Server) decide(ctx context.Context, r policy.Request, route policy.Route, doc parsed) policy.Decision {
	switch route.Rule {
	case policy.RuleTargetCreate:
		t := doc.target
		if doc.err != nil {
			return policy.InvalidTarget(doc.err)
		}
		// authorize ran the flinkdeployments check for this create when
		// both the operator and authorization are on.
		checked := r.FlinkOperator.On && s.cfg.Authorizer != nil
		if r.Stage == policy.StageMutate {
			return policy.MarkFlinkAuthorized(policy.TargetCreateMutate(r, t), checked)
		}
		return policy.CheckFlinkAuthorized(policy.TargetCreateValidate(r, t, s.access(ctx, t.ResolvedNamespace(r.PlatformNamespace))), r, checked)
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
		dep := doc.dep
		if doc.err != nil {
			return policy.InvalidDeployment(r, doc.err)
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
