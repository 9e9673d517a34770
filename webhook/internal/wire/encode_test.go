package wire

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
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
		// The handler writes the answer over the body it read, of any size.
		body := bytes.Repeat([]byte("{\"x\":1}"), rng.IntN(100))
		if got, err = AppendAnswer(body, tm, resp, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("answer %d written over a body of %d bytes:\n%s\nwant encoding/json's\n%s", i, len(body), got, want)
		}
		// The handler's audit annotations come as notes, not a map.
		notes := Notes{Denied: rng.IntN(2) == 0, Patched: rng.IntN(2) == 0, Reason: randomText(rng)}
		if rng.IntN(2) == 0 {
			notes.Target = randomText(rng)
		}
		withNotes := *resp
		withNotes.AuditAnnotations = nil
		if got, err = AppendAnswer(body, tm, &withNotes, &notes); err != nil {
			t.Fatal(err)
		}
		withNotes.AuditAnnotations = notes.Annotations()
		if want, err = json.Marshal(&admissionv1.AdmissionReview{TypeMeta: tm, Response: &withNotes}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("answer %d with audit notes %+v:\n%s\nwant encoding/json's\n%s", i, notes, got, want)
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

// TestPatchesTurnTheRequestsObjectIntoTheStoredOne applies each answer's
// patch with the JSON patch library the API server uses: keys that need
// ~0 and ~1 in a pointer, and values encoding/json escapes, must arrive as
// the policy wrote them.
func TestPatchesTurnTheRequestsObjectIntoTheStoredOne(t *testing.T) {
	keys := []string{"a/b", "c~d", "~1", "~0", "/~/", "~01", "", "<&>", "\u2028", "é/😀", "a\\b", `"q"`}
	values := []string{"<script>&amp;</script>", "\u2028\u2029", "\x00\x1f\x7f", "\ufffd", "~1/", "é😀"}
	cases := []struct {
		name           string
		before, change func(*corev1.ConfigMap) // before may be nil
	}{
		{name: "annotations with pointer-escaped keys are added", change: func(c *corev1.ConfigMap) {
			for i, k := range keys {
				c.Annotations[k] = values[i%len(values)]
			}
		}},
		{name: "annotations with pointer-escaped keys are replaced", change: func(c *corev1.ConfigMap) { c.Annotations["a/b"], c.Annotations["c~d"] = values[0], values[1] }},
		{name: "annotations with pointer-escaped keys are removed", change: func(c *corev1.ConfigMap) { delete(c.Annotations, "a/b"); delete(c.Annotations, "c~d") }},
		{name: "labels and data with pointer-escaped keys are added", change: func(c *corev1.ConfigMap) {
			c.Labels["x.io/~y"] = "v"
			c.Data["k~/"] = values[0]
		}},
		{name: "a whole annotation map with hostile keys and values is added", before: func(c *corev1.ConfigMap) { c.Annotations = nil }, change: func(c *corev1.ConfigMap) {
			c.Annotations = map[string]string{}
			for i, k := range keys {
				c.Annotations[k] = values[i%len(values)]
			}
		}},
		{name: "finalizers with hostile strings are replaced", change: func(c *corev1.ConfigMap) { c.Finalizers = values }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"l": "v"}, Annotations: map[string]string{"a/b": "1", "c~d": "2"}, Finalizers: []string{"f"}},
				Data:       map[string]string{"k": "v"},
			}
			if tc.before != nil {
				tc.before(before)
			}
			after := before.DeepCopy()
			tc.change(after)
			patch, err := createPatch(before, after)
			if err != nil {
				t.Fatal(err)
			}
			ops, err := jsonpatch.DecodePatch(patch)
			if err != nil {
				t.Fatalf("the API server could not read the patch %s: %v", patch, err)
			}
			raw, err := json.Marshal(before)
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = ops.Apply(raw); err != nil {
				t.Fatalf("the patch %s does not apply: %v", patch, err)
			}
			var got corev1.ConfigMap
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(after)
			if gotJSON, _ := json.Marshal(&got); !bytes.Equal(gotJSON, want) {
				t.Errorf("the patch %s made\n%s\nwant\n%s", patch, gotJSON, want)
			}
		})
	}
}

func TestHostileStringsAreQuotedAsEncodingJSONQuotesThem(t *testing.T) {
	cases := []struct{ name, s string }{
		{"HTML characters are escaped", "<script>a&&b</script>"},
		{"line and paragraph separators are escaped", "a\u2028b\u2029c"},
		{"control characters, their short escapes and DEL are written as encoding/json writes them", "\x00\x01\b\t\n\v\f\r\x1b\x1f\x7f"},
		{"quotes, backslashes and slashes are written as encoding/json writes them", `"\/'`},
		{"a lone invalid byte becomes U+FFFD", "a\xffb"},
		{"UTF-8 cut at the end becomes U+FFFD", "a\xe2\x80"},
		{"a surrogate encoded as UTF-8 becomes U+FFFD for each byte", "\xed\xa0\x80"},
		{"an overlong encoding becomes U+FFFD for each byte", "\xc0\xaf\xe0\x80\xaf"},
		{"a code point above U+10FFFF becomes U+FFFD for each byte", "\xf4\x90\x80\x80"},
		{"U+FFFD itself and astral characters stay as they are", "\ufffd😀é"},
		{"a byte-order mark stays as it is", "\ufeffx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendJSONString(nil, tc.s); !bytes.Equal(got, want) {
				t.Errorf("%q quoted as %s, encoding/json quotes it as %s", tc.s, got, want)
			}
		})
	}
}

// FuzzAnswerEncoding compares the answer and patch writers with
// encoding/json on fuzzed strings.
func FuzzAnswerEncoding(f *testing.F) {
	f.Add("uid", "warning <&>", "a/b~c", "value\u2028", []byte(`[{"op":"add"}]`), true)
	f.Add("\xff", "\x00\x1f", "\xe2\x80", "\ufffd", []byte{}, false)
	f.Fuzz(func(t *testing.T, uid, warning, key, value string, patch []byte, allowed bool) {
		pt := admissionv1.PatchTypeJSONPatch
		resp := &admissionv1.AdmissionResponse{UID: types.UID(uid), Allowed: allowed, Patch: patch, PatchType: &pt,
			AuditAnnotations: map[string]string{key: value, value: key}, Warnings: []string{warning, key}}
		tm := metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: warning}
		got, err := encodeAnswer(tm, resp)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("answer\n%s\nwant encoding/json's\n%s", got, want)
		}
		ops := []jsonPatchOp{
			{Op: "add", Path: "/metadata/annotations/" + key, Value: value},
			{Op: "replace", Path: "/data", Value: map[string]string{key: value, warning: uid}},
			{Op: "add", Path: "/metadata/finalizers", Value: []string{uid, value}},
			{Op: "remove", Path: value},
		}
		if got, err = encodePatch(ops); err != nil {
			t.Fatal(err)
		}
		if want, err = json.Marshal(ops); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("patch\n%s\nwant encoding/json's\n%s", got, want)
		}
	})
}

// TestHTMLSafeWordIsHTMLSafeEightTimes compares the eight-byte test with
// the byte table, as TestPlainWordIsPlainByteEightTimes does for the
// reader's.
func TestHTMLSafeWordIsHTMLSafeEightTimes(t *testing.T) {
	checkWordIsBytes(t, "htmlSafeWord", htmlSafeWord, func(c byte) bool { return c < utf8.RuneSelf && htmlSafe[c] },
		[]byte{'a', ' ', '!', '#', '%', '\'', ';', '=', '?', '[', ']', '~', 0x7f, 0x21},
		[]byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '!', '#', '\\', '[', ']', '<', '=', '>', '?', '&', '%', '\'', 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff}, 15)
}

// TestLongStringsAreQuotedAsEncodingJSONQuotesThem quotes strings long
// enough for the eight-byte scan, with the special bytes at every offset.
func TestLongStringsAreQuotedAsEncodingJSONQuotesThem(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	specials := []string{`"`, `\`, "<", ">", "&", "\n", "\x00", "\x1f", "\x7f", "é", "\u2028", "\xff", "\xe2\x80"}
	for i := range 5000 {
		var b strings.Builder
		for range rng.IntN(40) {
			if rng.IntN(4) == 0 {
				b.WriteString(specials[rng.IntN(len(specials))])
			} else {
				b.WriteString(strings.Repeat("x", rng.IntN(20)))
			}
		}
		s := b.String()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("string %d %q quoted as %s, encoding/json quotes it as %s", i, s, got, want)
		}
	}
}
