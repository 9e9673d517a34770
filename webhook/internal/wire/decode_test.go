package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"flinkgate.io/flinkgate/internal/resource"
)

// sameAsJSON fails t unless DecodeReview reads body exactly as the
// encoding/json decode does: the same error, or the same review.
func sameAsJSON(t *testing.T, body []byte) {
	t.Helper()
	if len(bytes.TrimSpace(body)) == 0 {
		return // DecodeReview refuses it before either decode
	}
	got, gotErr := decodeThenScribble(DecodeReview, body)
	want, wantErr := decodeReviewWithJSON(body)
	sameReview(t, body, got, gotErr, want, wantErr)
	// encoding/json's reviews, the fallback's, must not use the body either.
	scribbled, scribbledErr := decodeThenScribble(decodeReviewWithJSON, body)
	sameReview(t, body, scribbled, scribbledErr, want, wantErr)
}

// decodeThenScribble decodes a copy of body, then overwrites the copy, as
// the handler writes its answer over the body: a review that kept bytes of
// the body would change.
func decodeThenScribble(decode func([]byte) (*Review, error), body []byte) (*Review, error) {
	b := bytes.Clone(body)
	rv, err := decode(b)
	for i := range b {
		b[i] = '!'
	}
	return rv, err
}

// sameReview fails t unless got and want are the same review or the same
// refusal.
func sameReview(t *testing.T, body []byte, got *Review, gotErr error, want *Review, wantErr error) {
	t.Helper()
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("error %v, want %v\nbody: %s", gotErr, wantErr, body)
	}
	if gotErr != nil {
		return
	}
	if fmt.Sprint(got.OldErr) != fmt.Sprint(want.OldErr) || fmt.Sprint(got.ObjectErr) != fmt.Sprint(want.ObjectErr) {
		t.Fatalf("object errors %v, %v, want %v, %v\nbody: %s", got.OldErr, got.ObjectErr, want.OldErr, want.ObjectErr, body)
	}
	if !reflect.DeepEqual(got.Old, want.Old) || !reflect.DeepEqual(got.Object, want.Object) {
		t.Fatalf("objects\n%#v\n%#v\nwant\n%#v\n%#v\nbody: %s", got.Old, got.Object, want.Old, want.Object, body)
	}
	if !reflect.DeepEqual(got.Request, want.Request) || got.TypeMeta != want.TypeMeta {
		t.Fatalf("request %#v, want %#v\nbody: %s", got.Request, want.Request, body)
	}
}

// TestDecodedReviewsKeepNoBytesOfTheBody decodes reviews by each path a
// body can take and overwrites the body afterwards, as the handler does
// with its answer: the review must not change. (sameAsJSON checks it too,
// for every table, random and fuzzed review.)
func TestDecodedReviewsKeepNoBytesOfTheBody(t *testing.T) {
	obj := func(object string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"UPDATE","userInfo":{"username":"u","groups":["g"],"extra":{"k":["v"]}},"options":{"a":"b"},"object":%s,"oldObject":%[1]s}}`, object)
	}
	cases := []struct {
		name   string
		body   []byte
		decode func([]byte) (*Review, error)
	}{
		{"the fast reader's review of a kubectl apply keeps no bytes of the body", appliedReview(t, admissionv1.Update), DecodeReview},
		{"encoding/json's review of a kubectl apply keeps no bytes of the body", appliedReview(t, admissionv1.Update), decodeReviewWithJSON},
		{"the two-pass review keeps no bytes of the body", appliedReview(t, admissionv1.Update), decodeReviewInTwoPasses},
		{"the fast reader's unescaped strings, binary data and raw fields keep no bytes of the body", obj(`{"metadata":{"name":"a\u00e9","labels":{"k\n":"v\t"},"managedFields":[{"fieldsV1":{"f:a":{}}}]},"data":{"d":"x"},"binaryData":{"b":"aGk="}}`), DecodeReview},
		{"a review the fast reader leaves to encoding/json keeps no bytes of the body", obj(`{"metadata":{"Name":"a"},"data":{"d":"x"},"binaryData":{"b":"aGk="}}`), DecodeReview},
		{"a review whose object is not a ConfigMap keeps no bytes of the body", obj(`{"kind":"Secret","metadata":{"name":"s"},"data":{"d":"eA=="}}`), DecodeReview},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := tc.decode(bytes.Clone(tc.body))
			got, gotErr := decodeThenScribble(tc.decode, tc.body)
			if wantErr != nil {
				t.Fatalf("the review must decode: %v", wantErr)
			}
			sameReview(t, tc.body, got, gotErr, want, wantErr)
		})
	}
}

func TestFastDecodeReadsReviewsLikeEncodingJSON(t *testing.T) {
	applied := string(appliedReview(t, admissionv1.Update))
	// replace edits the applied review's first occurrence of old.
	replace := func(old, new string) []byte {
		if !strings.Contains(applied, old) {
			t.Fatalf("the applied review has no %q", old)
		}
		return []byte(strings.Replace(applied, old, new, 1))
	}
	obj := func(object string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","resource":{"version":"v1","resource":"configmaps"},"object":%s}}`, object)
	}
	cases := []struct {
		name string
		body []byte
		// fast says the fast reader must read it itself rather than leave
		// it to encoding/json.
		fast bool
	}{
		{name: "a kubectl-applied update is read by the fast reader", body: []byte(applied), fast: true},
		{name: "a kubectl-applied create is read by the fast reader", body: appliedReview(t, admissionv1.Create), fast: true},
		{name: "the benchmark's create is read by the fast reader", body: review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)), fast: true},
		{name: "a delete with only the old object is read by the fast reader", body: review(admissionv1.Delete, configMap("staging", resource.KindTarget, seedTarget), nil), fast: true},
		{name: "whitespace between every token is read by the fast reader", body: []byte(" {\n\t\"apiVersion\" : \"admission.k8s.io/v1\" ,\r\n \"kind\":\"AdmissionReview\", \"request\" : { \"uid\" : \"u\" , \"object\" : { \"data\" : { \"a\" : \"b\" } } } } \n"), fast: true},
		{name: "escapes of every kind are decoded by the fast reader", body: obj(`{"data":{"k":"\"\\\/\b\f\n\r\t\u00e9\u263a\ud83d\ude00\u0000"}}`), fast: true},
		{name: "unknown fields at every level are skipped by the fast reader", body: []byte(`{"x":[1,{"y":null}],"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":5},"request":{"uid":"u","extraField":-1.5e+3,"object":{"spec":true,"metadata":{"zzz":"q","name":"n"}}}}`), fast: true},
		{name: "null values are read as encoding/json reads them", body: obj(`{"kind":null,"metadata":{"labels":null,"annotations":{"a":null},"finalizers":[null,"f"],"ownerReferences":[null],"managedFields":[{"time":null,"fieldsV1":null}],"deletionTimestamp":null,"creationTimestamp":null,"generation":null},"immutable":null,"data":null,"binaryData":{"b":null}}`), fast: true},
		{name: "empty maps and lists stay empty, not absent", body: obj(`{"metadata":{"labels":{},"finalizers":[],"ownerReferences":[],"managedFields":[]},"data":{},"binaryData":{}}`), fast: true},
		{name: "binary data is base64-decoded", body: obj(`{"binaryData":{"b":"aGVsbG8=","e":""}}`), fast: true},
		{name: "deletion fields are read", body: obj(`{"metadata":{"deletionTimestamp":"2026-11-26T11:00:00+01:00","deletionGracePeriodSeconds":30,"generation":-0}}`), fast: true},
		{name: "an object of another kind is refused", body: obj(`{"kind":"Secret"}`), fast: true},
		{name: "a review without a request is refused", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`), fast: true},
		{name: "a review of the wrong version is refused", body: []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`), fast: true},
		{name: "a key differing in case from a field is left to encoding/json", body: replace(`"metadata"`, `"Metadata"`)},
		{name: "a key with a long s folding to a field is left to encoding/json", body: replace(`"resourceVersion"`, `"reſourceVersion"`)},
		{name: "an escaped key is left to encoding/json", body: replace(`"name"`, `"n\u0061me"`)},
		{name: "an escaped unknown key is left to encoding/json", body: obj(`{"\u0078":1}`)},
		{name: "escaped map keys are decoded by the fast reader", body: obj(`{"data":{"a\"b\u00e9":"c"},"metadata":{"labels":{"\/":"x"}}}`), fast: true},
		{name: "a repeated field is left to encoding/json", body: obj(`{"metadata":{"labels":{"a":"1"}},"metadata":{"labels":{"b":"2"}}}`)},
		{name: "a repeated map key keeps the last value", body: obj(`{"data":{"a":"1","a":"2"}}`), fast: true},
		{name: "an object that is a string is left to encoding/json", body: obj(`"configmap"`)},
		{name: "data that is not a map is left to encoding/json", body: obj(`{"data":[1]}`)},
		{name: "a uid that is a number is left to encoding/json", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}`)},
		{name: "a generation with a fraction is left to encoding/json", body: obj(`{"metadata":{"generation":1.5}}`)},
		{name: "a generation beyond int64 is left to encoding/json", body: obj(`{"metadata":{"generation":9223372036854775808}}`)},
		{name: "a bad timestamp is left to encoding/json", body: replace(`"creationTimestamp":"2026-11-26T11:00:00Z"`, `"creationTimestamp":"yesterday"`)},
		{name: "a timestamp with an escape is read by its own decoder", body: replace(`"creationTimestamp":"2026-11-26T11:00:00Z"`, `"creationTimestamp":"2026-11-26T11:00:00\u005a"`), fast: true},
		{name: "bad base64 is left to encoding/json", body: obj(`{"binaryData":{"b":"!!"}}`)},
		{name: "invalid UTF-8 is left to encoding/json", body: obj("{\"data\":{\"a\":\"\xff\"}}")},
		{name: "a lone surrogate escape is left to encoding/json", body: obj(`{"data":{"a":"\ud800x"}}`)},
		{name: "a control character in a string is refused", body: obj("{\"data\":{\"a\":\"\x01\"}}")},
		{name: "a bad escape is refused", body: obj(`{"data":{"a":"\x"}}`)},
		{name: "trailing bytes are refused", body: append([]byte(applied), " x"...)},
		{name: "a truncated review is refused", body: []byte(applied[:len(applied)/2])},
		{name: "a bad number in an unknown field is refused", body: obj(`{"x":01}`)},
		{name: "a misspelt literal in an unknown field is refused", body: obj(`{"x":nul}`)},
		{name: "a trailing comma is refused", body: obj(`{"data":{"a":"b",}}`)},
		{name: "a review that is a list is refused", body: []byte(`[{"apiVersion":"admission.k8s.io/v1"}]`)},
		{name: "nesting deeper than the fast reader follows is left to encoding/json", body: obj(`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fastDecodeReview(tc.body)
			if fast := err == nil; fast != tc.fast {
				t.Errorf("read by the fast reader: %v, want %v", fast, tc.fast)
			}
			sameAsJSON(t, tc.body)
		})
	}
}

// TestFastDecodeReadsMutatedReviewsLikeEncodingJSON compares the two on
// thousands of reviews with bytes changed, dropped or repeated at random:
// whatever the fast reader accepts must be what encoding/json builds.
func TestFastDecodeReadsMutatedReviewsLikeEncodingJSON(t *testing.T) {
	bases := [][]byte{
		appliedReview(t, admissionv1.Update),
		review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":{"generation":12,"labels":{"a":"b"}},"binaryData":{"b":"aGk="},"immutable":true,"data":{"k":"v\u00e9"}}}}`),
	}
	tokens := []string{`"`, `\`, `\u`, `\ud83d\ude00`, `{`, `}`, `[`, `]`, `:`, `,`, `null`, `true`, `1`, `-`, `.`, `e`, ` `, "\xff", "é", `K`, `ſ`, `"kind":"X",`, `"name":null,`, `"data":{},`}
	rng := rand.New(rand.NewPCG(12, 2))
	fastReads := 0
	for i := range 4000 {
		base := bases[i%len(bases)]
		b := append([]byte(nil), base...)
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0: // insert a token
				tok := tokens[rng.IntN(len(tokens))]
				b = append(b[:at], append([]byte(tok), b[at:]...)...)
			case 1: // drop a few bytes
				end := min(len(b), at+1+rng.IntN(4))
				b = append(b[:at], b[end:]...)
			default: // change the case of a letter (keys matched without case)
				if c := b[at]; 'a' <= c && c <= 'z' {
					b[at] = c - 'a' + 'A'
				}
			}
		}
		if _, err := fastDecodeReview(b); err == nil {
			fastReads++
		}
		sameAsJSON(t, b)
	}
	// The comparison only means something if the fast reader read many
	// of them itself.
	if fastReads < 400 {
		t.Errorf("the fast reader read only %d of 4000 mutated reviews", fastReads)
	}
}

// TestFastDecodeReadsRandomConfigMapsLikeEncodingJSON builds random
// ConfigMaps, with strings of every kind of character, and checks that
// the fast reader reads each one itself and builds what encoding/json
// builds.
func TestFastDecodeReadsRandomConfigMapsLikeEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\x00', '\x1f', '<', '&', 'é', '☺', '😀', '\u2028', '\ufffd'}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	strMap := func() map[string]string {
		if rng.IntN(4) == 0 {
			return nil
		}
		m := map[string]string{}
		for range rng.IntN(4) {
			m[str()] = str()
		}
		return m
	}
	for i := range 2000 {
		cm := &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: str(), Kind: []string{"ConfigMap", ""}[rng.IntN(2)]},
			ObjectMeta: metav1.ObjectMeta{Name: str(), Namespace: str(), UID: types.UID(str()), Labels: strMap(), Annotations: strMap(), Generation: rng.Int64() - rng.Int64()},
			Data:       strMap(),
		}
		if rng.IntN(2) == 0 {
			cm.Finalizers = []string{str(), str()}
			cm.Immutable = new(rng.IntN(2) == 0)
			cm.BinaryData = map[string][]byte{str(): []byte(str())}
			cm.DeletionTimestamp = &metav1.Time{Time: time.Unix(rng.Int64N(1<<34), 0)}
		}
		raw, err := json.Marshal(cm)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(&admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request:  &admissionv1.AdmissionRequest{UID: types.UID(str()), Name: str(), Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fastDecodeReview(body); err != nil {
			t.Fatalf("review %d was left to encoding/json: %s", i, body)
		}
		sameAsJSON(t, body)
	}
}

// BenchmarkDecodeReview reads a kubectl-applied deployment CREATE with the
// fast reader and with encoding/json alone.
func BenchmarkDecodeReview(b *testing.B) {
	body := appliedReview(b, admissionv1.Create)
	for _, bc := range []struct {
		name   string
		decode func([]byte) (*Review, error)
	}{{"fast", DecodeReview}, {"encoding-json", decodeReviewWithJSON}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := bc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlainWordIsPlainByteEightTimes compares the eight-byte test with the
// byte table: every byte value at every position among plain bytes (and
// among bytes that sit next to the tests' thresholds), then random words.
func TestPlainWordIsPlainByteEightTimes(t *testing.T) {
	checkWordIsBytes(t, "plainWord", plainWord, func(c byte) bool { return plainByte[c] },
		[]byte{'a', ' ', '!', '#', '[', ']', '~', 0x7f, 0x21},
		[]byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '!', '#', '\\', '[', ']', 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff}, 13)
}
