package wire

// This file holds the fast paths' equivalence tests and fuzzers: one-pass
// decode against the two-pass one, typed patch against the generic diff.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"flinkgate.io/flinkgate/internal/resource"
)

func TestOnePassDecodeReadsReviewsLikeTheTwoPassDecode(t *testing.T) {
	target := configMap("staging", resource.KindTarget, seedTarget)
	withObjects := func(obj, old string) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"UPDATE","namespace":"ns","name":"n","resource":{"version":"v1","resource":"configmaps"},"userInfo":{"username":"alice","groups":["g"]},"object":%s,"oldObject":%s}}`, obj, old)
	}
	cases := []struct {
		name string
		body []byte
	}{
		{name: "a create of a target decodes the same", body: review(admissionv1.Create, nil, target)},
		{name: "an update with both objects decodes the same", body: review(admissionv1.Update, target, with(target, func(c *corev1.ConfigMap) { c.Labels["x"] = "y" }))},
		{name: "a delete with only the old object decodes the same", body: review(admissionv1.Delete, target, nil)},
		{name: "null objects decode as absent", body: withObjects("null", "null")},
		{name: "empty objects decode as empty ConfigMaps", body: withObjects("{}", "{}")},
		{name: "an object of another kind is refused the same way", body: withObjects(`{"kind":"Secret","metadata":{"name":"n"}}`, "null")},
		{name: "an old object of another kind is refused the same way", body: withObjects(`{}`, `{"kind":"Pod"}`)},
		{name: "an object whose data is not a map is refused the same way", body: withObjects(`{"data":5}`, "null")},
		{name: "an object that is a string is refused the same way", body: withObjects(`"configmap"`, "null")},
		{name: "a review without a uid is refused the same way", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{}}}`)},
		{name: "a review of the wrong version is refused the same way", body: []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u"}}`)},
		{name: "a request field of the wrong type is refused the same way", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":5}}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, gotErr := DecodeReview(tc.body)
			want, wantErr := decodeReviewInTwoPasses(tc.body)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", gotErr, wantErr)
			}
			if gotErr != nil {
				return
			}
			if fmt.Sprint(got.OldErr) != fmt.Sprint(want.OldErr) || fmt.Sprint(got.ObjectErr) != fmt.Sprint(want.ObjectErr) {
				t.Errorf("object errors %v, %v, want %v, %v", got.OldErr, got.ObjectErr, want.OldErr, want.ObjectErr)
			}
			if !reflect.DeepEqual(got.Old, want.Old) || !reflect.DeepEqual(got.Object, want.Object) {
				t.Errorf("objects %+v, %+v, want %+v, %+v", got.Old, got.Object, want.Old, want.Object)
			}
			// The request itself is the same apart from the raw objects,
			// which the one-pass decode does not keep.
			gr, wr := *got.Request, *want.Request
			gr.Object, gr.OldObject, wr.Object, wr.OldObject = runtime.RawExtension{}, runtime.RawExtension{}, runtime.RawExtension{}, runtime.RawExtension{}
			if !reflect.DeepEqual(gr, wr) || got.TypeMeta != want.TypeMeta {
				t.Errorf("request %+v, want %+v", gr, wr)
			}
		})
	}
}

func TestTypedPatchIsTheGenericPatch(t *testing.T) {
	// newBase is built afresh for each case: a copy that shares its slices
	// lets a change write through to it.
	newBase := func() *corev1.ConfigMap {
		return with(configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment), func(c *corev1.ConfigMap) {
			c.Annotations = map[string]string{"a/b": "1", "c~d": "2"}
			c.Finalizers = []string{"x.io/f"}
			c.BinaryData = map[string][]byte{"bin": {1, 2}}
			c.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}
			c.OwnerReferences = []metav1.OwnerReference{{Name: "o"}}
		})
	}
	cases := []struct {
		name   string
		change func(*corev1.ConfigMap)
	}{
		{name: "no change gives no patch", change: func(*corev1.ConfigMap) {}},
		{name: "a label added to existing labels is one add", change: func(c *corev1.ConfigMap) { c.Labels["flinkgate.io/deployment-target"] = "staging" }},
		{name: "labels on an object without labels are added whole", change: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
		{name: "removing every label removes the map", change: func(c *corev1.ConfigMap) { c.Labels = nil }},
		{name: "an empty label map is treated as absent", change: func(c *corev1.ConfigMap) { c.Labels = map[string]string{} }},
		{name: "annotations with escaped keys are replaced and removed", change: func(c *corev1.ConfigMap) {
			c.Annotations = map[string]string{"a/b": "changed", "new~key/x": "3"}
		}},
		{name: "a data value is replaced", change: func(c *corev1.ConfigMap) { c.Data = map[string]string{resource.DataKey: "kind: Deployment\n"} }},
		{name: "data removed entirely is one remove", change: func(c *corev1.ConfigMap) { c.Data = nil }},
		{name: "immutable set on a mutable object is an add", change: func(c *corev1.ConfigMap) { c.Immutable = new(true) }},
		{name: "immutable false is still a value", change: func(c *corev1.ConfigMap) { c.Immutable = new(false) }},
		{name: "finalizers that differ are replaced whole", change: func(c *corev1.ConfigMap) { c.Finalizers = []string{"x.io/f", "flinkgate.io/in-use-protection"} }},
		{name: "finalizers removed entirely are one remove", change: func(c *corev1.ConfigMap) { c.Finalizers = nil }},
		{name: "binary data changed is replaced", change: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"bin": {3}} }},
		{name: "binary data that becomes empty but not null is replaced", change: func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"bin": {}} }},
		{name: "a changed managed field falls back to the generic diff", change: func(c *corev1.ConfigMap) {
			c.ManagedFields[0].Manager = "other"
			c.Labels["l"] = "v"
		}},
		{name: "managed fields that become empty but not null fall back to the generic diff", change: func(c *corev1.ConfigMap) { c.ManagedFields = []metav1.ManagedFieldsEntry{} }},
		{name: "an owner reference added falls back to the generic diff", change: func(c *corev1.ConfigMap) {
			c.OwnerReferences = append(c.OwnerReferences, metav1.OwnerReference{Name: "o2"})
		}},
		{name: "a change outside the diffed fields falls back to the generic diff", change: func(c *corev1.ConfigMap) {
			c.Name = "renamed"
			c.Labels["l"] = "v"
		}},
	}
	for _, tc := range cases {
		// The policies copy shallowly, replacing the maps they change; a
		// deep copy is what any other change would look like.
		for _, sharing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s (sharing slices: %v)", tc.name, sharing), func(t *testing.T) {
				base := newBase()
				after := base.DeepCopy()
				if sharing {
					after = new(*base)
					after.Labels, after.Annotations = maps.Clone(base.Labels), maps.Clone(base.Annotations)
					after.Data, after.BinaryData = maps.Clone(base.Data), maps.Clone(base.BinaryData)
				}
				tc.change(after)
				got, err := createPatch(base, after)
				if err != nil {
					t.Fatal(err)
				}
				ops, err := genericDiff(base, after)
				if err != nil {
					t.Fatal(err)
				}
				var want []byte
				if len(ops) > 0 {
					if want, err = json.Marshal(ops); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(got, want) {
					t.Errorf("patch\n%s\nwant the generic diff's\n%s", got, want)
				}
			})
		}
	}
}

// fuzzMap reads a map from fuzz input: "" is nil, "\x03" empty, else
// entries split at \x01, each a key and a value split at the first \x02.
// Strings are made valid UTF-8, as every decoded review's are (the
// generic diff's round trip through JSON replaces invalid bytes).
func fuzzMap(s string) map[string]string {
	switch s {
	case "":
		return nil
	case "\x03":
		return map[string]string{}
	}
	m := map[string]string{}
	for _, e := range strings.Split(strings.ToValidUTF8(s, "\ufffd"), "\x01") {
		k, v, _ := strings.Cut(e, "\x02")
		m[k] = v
	}
	return m
}

func fuzzBytesMap(s string) map[string][]byte {
	m := fuzzMap(s)
	if m == nil {
		return nil
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v) // never nil: the generic diff drops a null value
	}
	return out
}

func fuzzStrings(s string) []string {
	switch s {
	case "":
		return nil
	case "\x03":
		return []string{}
	}
	return strings.Split(strings.ToValidUTF8(s, "\ufffd"), "\x01")
}

func fuzzBool(b uint8) *bool {
	if b%3 == 0 {
		return nil
	}
	return new(b%3 == 1)
}

// FuzzTypedPatchIsTheGenericPatch diffs fuzzed labels, annotations, data,
// binary data, finalizers and immutable flags: the typed diff's patch must
// be the generic diff's byte for byte.
func FuzzTypedPatchIsTheGenericPatch(f *testing.F) {
	f.Add("a\x02b\x01~/\x02<&>", "a\x02c\x01\x02\u2028", "\x03", "n\x02\xff", "resource.yaml\x02x: 1\n", "resource.yaml\x02x: 2\n", "k\x02v", "", "fin\x01", "", uint8(1), uint8(2))
	f.Add("", "\x03", "~0\x02~1", "~0\x02~1\x01/\x02", "\x03", "\x02", "", "\x03", "", "\x03", uint8(0), uint8(1))
	var applied struct {
		Request struct {
			Object *corev1.ConfigMap `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(appliedReview(f, admissionv1.Create), &applied); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, la, lb, aa, ab, da, db, ba, bb, fa, fb string, ia, ib uint8) {
		before := applied.Request.Object.DeepCopy()
		before.Labels, before.Annotations, before.Data = fuzzMap(la), fuzzMap(aa), fuzzMap(da)
		before.BinaryData, before.Finalizers, before.Immutable = fuzzBytesMap(ba), fuzzStrings(fa), fuzzBool(ia)
		after := new(*before)
		after.Labels, after.Annotations, after.Data = fuzzMap(lb), fuzzMap(ab), fuzzMap(db)
		after.BinaryData, after.Finalizers, after.Immutable = fuzzBytesMap(bb), fuzzStrings(fb), fuzzBool(ib)
		got, err := createPatch(before, after)
		if err != nil {
			t.Fatal(err)
		}
		if want := genericPatch(t, before, after); !bytes.Equal(got, want) {
			t.Fatalf("patch\n%q\nwant the generic diff's\n%q", got, want)
		}
	})
}

// FuzzDecodeReview holds the fast reader to encoding/json: whatever it
// accepts must be read as encoding/json reads it, and the rest left to it.
func FuzzDecodeReview(f *testing.F) {
	f.Add(review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, seedTarget)))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}}`))
	f.Add([]byte(`{}`))
	f.Add(appliedReview(f, admissionv1.Update))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":{"Name":"x","labels":{"a\u00e9":null}},"binaryData":{"b":"aGk="},"data":{"k":"\ud83d\ude00"}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sameAsJSON(t, body)
	})
}
