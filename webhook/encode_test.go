package webhook

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// randomText draws strings with every kind of character encoding/json
// treats specially: quotes, controls, HTML characters, U+2028, invalid and
// cut UTF-8.
func randomText(rng *rand.Rand) string {
	parts := []string{"a", "Z", "0", " ", `"`, `\`, "/", "\n", "\t", "\b", "\f", "\r", "\x00", "\x1f", "\x7f", "<", ">", "&", "é", "☺", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xe2\x80", "~1"}
	var b strings.Builder
	for range rng.IntN(10) {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

func TestAnswersAreEncodedAsEncodingJSONEncodesThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pt := admissionv1.PatchTypeJSONPatch
	for i := range 3000 {
		resp := &admissionv1.AdmissionResponse{UID: types.UID(randomText(rng)), Allowed: rng.IntN(2) == 0}
		tm := metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}
		if rng.IntN(4) == 0 {
			tm = metav1.TypeMeta{APIVersion: []string{"", randomText(rng)}[rng.IntN(2)], Kind: []string{"", randomText(rng)}[rng.IntN(2)]}
		}
		if rng.IntN(2) == 0 {
			resp.Patch = []byte(randomText(rng))
			resp.PatchType = &pt
		}
		if n := rng.IntN(4); n > 0 {
			resp.AuditAnnotations = map[string]string{}
			for range n {
				resp.AuditAnnotations[randomText(rng)] = randomText(rng)
			}
		}
		if rng.IntN(3) == 0 {
			resp.Warnings = []string{randomText(rng), randomText(rng)}
		}
		if rng.IntN(10) == 0 {
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 403, Message: randomText(rng)}
		}
		got, err := encodeAnswer(tm, resp)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("answer %d:\n%s\nwant encoding/json's\n%s", i, got, want)
		}
	}
}

func TestPatchesAreEncodedAsEncodingJSONEncodesThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	values := []func() any{
		func() any { return nil },
		func() any { return randomText(rng) },
		func() any { return rng.IntN(2) == 0 },
		func() any {
			return map[string]string{randomText(rng): randomText(rng), randomText(rng): randomText(rng)}
		},
		func() any { return map[string]string{} },
		func() any { return map[string]string(nil) },
		func() any { return []string{randomText(rng), randomText(rng)} },
		func() any { return []string(nil) },
		func() any { return map[string][]byte{randomText(rng): []byte(randomText(rng))} },
		func() any { return map[string]any{"n": 1.5, "l": []any{"x", nil}} },
	}
	for i := range 3000 {
		ops := make([]jsonPatchOp, rng.IntN(5))
		for j := range ops {
			ops[j] = jsonPatchOp{Op: []string{"add", "remove", "replace"}[rng.IntN(3)], Path: "/" + randomText(rng), Value: values[rng.IntN(len(values))]()}
		}
		got, err := encodePatch(ops)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(ops)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("patch %d:\n%s\nwant encoding/json's\n%s", i, got, want)
		}
	}
}
