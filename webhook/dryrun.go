package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"flinkgate.io/flinkgate/internal/policy"
)

// dryRunUID marks the requests DryRun makes in the decision log.
const dryRunUID = "00000000-0000-0000-0000-00000000d12e"

// DryRunResult is what the API server would make of a write after asking
// both webhooks.
type DryRunResult struct {
	Allowed bool
	// Stage is the webhook that denied the write; empty when it is allowed.
	Stage policy.Stage
	// Reason is the denial reason (the metrics' reason label).
	Reason string
	// Status is the denying webhook's status: code and message.
	Status *metav1.Status
	// Warnings are both webhooks' warnings in order, each once, as kubectl
	// prints them.
	Warnings []string
	// Object is the ConfigMap as it would be stored: the input with the
	// mutating webhook's patch applied. Nil for a DELETE.
	Object *corev1.ConfigMap
}

// DryRun sends a write through the mutating webhook, applies its patch and
// sends the result through the validating webhook, as the API server does
// for a dry-run request. old is the stored object (UPDATE, DELETE), obj the
// one written (CREATE, UPDATE). Nothing is stored anywhere; the answers are
// counted and logged like any others.
func (s *Server) DryRun(ctx context.Context, op policy.Operation, old, obj *corev1.ConfigMap) (*DryRunResult, error) {
	return s.dryRunAs(ctx, authenticationv1.UserInfo{}, op, old, obj)
}

// dryRunAs is DryRun for a request sent by user: answers that depend on who
// asks (authorization, flinkgate's own finalizer removals) follow it.
func (s *Server) dryRunAs(ctx context.Context, user authenticationv1.UserInfo, op policy.Operation, old, obj *corev1.ConfigMap) (*DryRunResult, error) {
	req, err := dryRunRequest(op, old, obj)
	if err != nil {
		return nil, err
	}
	req.UserInfo = user
	out := &DryRunResult{}
	mutated := s.admitRequest(ctx, policy.StageMutate, req)
	out.addWarnings(mutated.Warnings)
	if !mutated.Allowed {
		out.deny(policy.StageMutate, mutated)
		return out, nil
	}
	if obj != nil && len(mutated.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(mutated.Patch)
		if err != nil {
			return nil, fmt.Errorf("decode the mutating webhook's patch: %w", err)
		}
		raw, err := patch.Apply(req.Object.Raw)
		if err != nil {
			return nil, fmt.Errorf("apply the mutating webhook's patch: %w", err)
		}
		req = req.DeepCopy()
		req.Object.Raw = raw
	}
	validated := s.admitRequest(ctx, policy.StageValidate, req)
	out.addWarnings(validated.Warnings)
	if !validated.Allowed {
		out.deny(policy.StageValidate, validated)
		return out, nil
	}
	out.Allowed = true
	if obj != nil {
		var stored corev1.ConfigMap
		if err := json.Unmarshal(req.Object.Raw, &stored); err != nil {
			return nil, fmt.Errorf("decode the patched object: %w", err)
		}
		out.Object = &stored
	}
	return out, nil
}

func (r *DryRunResult) deny(stage policy.Stage, resp *admissionv1.AdmissionResponse) {
	r.Stage = stage
	r.Reason = resp.AuditAnnotations["reason"]
	r.Status = resp.Result
}

func (r *DryRunResult) addWarnings(ws []string) {
outer:
	for _, w := range ws {
		for _, seen := range r.Warnings {
			if seen == w {
				continue outer
			}
		}
		r.Warnings = append(r.Warnings, w)
	}
}

// dryRunRequest is the AdmissionRequest the API server would send for the
// write, marked as a dry run.
func dryRunRequest(op policy.Operation, old, obj *corev1.ConfigMap) (*admissionv1.AdmissionRequest, error) {
	dryRun := true
	req := &admissionv1.AdmissionRequest{
		UID:       dryRunUID,
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Operation: admissionv1.Operation(op),
		DryRun:    &dryRun,
	}
	for _, o := range []struct {
		cm  *corev1.ConfigMap
		raw *runtime.RawExtension
	}{{old, &req.OldObject}, {obj, &req.Object}} {
		if o.cm == nil {
			continue
		}
		cm := o.cm.DeepCopy()
		cm.APIVersion, cm.Kind = "v1", "ConfigMap"
		b, err := json.Marshal(cm)
		if err != nil {
			return nil, fmt.Errorf("encode configmap %s: %w", cm.Name, err)
		}
		o.raw.Raw = b
		req.Name, req.Namespace = cm.Name, cm.Namespace
	}
	if req.Object.Raw == nil && req.OldObject.Raw == nil {
		return nil, fmt.Errorf("a %s needs an object", op)
	}
	return req, nil
}
