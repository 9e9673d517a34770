package webhook

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// assertDryRunAgrees checks that DryRun, the entry point of `flinkgate
// check`, gives the verdict, message, warnings and stored object that the
// API server gets from the HTTP handlers for the same request: POST /mutate,
// apply its patch, POST /validate. TestAdmission calls it for every golden
// case, so a new case is covered without being listed twice.
func assertDryRunAgrees(t *testing.T, s *Server, body []byte) {
	t.Helper()
	review := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(body, review); err != nil {
		t.Fatalf("decode the case's review: %v", err)
	}
	req := review.Request
	old, err := wire.DecodeConfigMap(req.OldObject)
	if err != nil {
		t.Fatalf("decode old object: %v", err)
	}
	obj, err := wire.DecodeConfigMap(req.Object)
	if err != nil {
		t.Fatalf("decode object: %v", err)
	}
	want := httpChain(t, s, review)
	got, err := s.dryRunAs(context.Background(), req.UserInfo, policy.Operation(req.Operation), old, obj)
	if err != nil {
		t.Fatalf("DryRun: %v", err)
	}
	if got.Allowed != want.Allowed || got.Stage != want.Stage || got.Reason != want.Reason {
		t.Errorf("DryRun verdict = allowed %v by %q (reason %q), the webhooks over HTTP say allowed %v by %q (reason %q)",
			got.Allowed, got.Stage, got.Reason, want.Allowed, want.Stage, want.Reason)
	}
	if !reflect.DeepEqual(got.Status, want.Status) {
		t.Errorf("DryRun status = %+v, the webhooks over HTTP say %+v", got.Status, want.Status)
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) {
		t.Errorf("DryRun warnings = %q, the webhooks over HTTP say %q", got.Warnings, want.Warnings)
	}
	gotObj, _ := json.Marshal(got.Object)
	wantObj, _ := json.Marshal(want.Object)
	if string(gotObj) != string(wantObj) {
		t.Errorf("DryRun stores\n%s\nthe webhooks over HTTP store\n%s", gotObj, wantObj)
	}
}

// httpChain is what the API server does with the two webhooks' answers.
func httpChain(t *testing.T, s *Server, review *admissionv1.AdmissionReview) *DryRunResult {
	t.Helper()
	h := s.Handler()
	req := review.Request
	out := &DryRunResult{}
	body, _ := json.Marshal(review)
	mutated := post(t, h, "/mutate", body)
	out.addWarnings(mutated.Warnings)
	if !mutated.Allowed {
		out.deny(policy.StageMutate, mutated)
		return out
	}
	if len(req.Object.Raw) > 0 && len(mutated.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(mutated.Patch)
		if err != nil {
			t.Fatalf("decode patch: %v", err)
		}
		raw, err := patch.Apply(req.Object.Raw)
		if err != nil {
			t.Fatalf("apply patch: %v", err)
		}
		review = review.DeepCopy()
		review.Request.Object.Raw = raw
		body, _ = json.Marshal(review)
	}
	validated := post(t, h, "/validate", body)
	out.addWarnings(validated.Warnings)
	if !validated.Allowed {
		out.deny(policy.StageValidate, validated)
		return out
	}
	out.Allowed = true
	if len(review.Request.Object.Raw) > 0 {
		var cm corev1.ConfigMap
		if err := json.Unmarshal(review.Request.Object.Raw, &cm); err != nil {
			t.Fatalf("decode stored object: %v", err)
		}
		out.Object = &cm
	}
	return out
}
