package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
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
			if fmt.Sprint(got.oldErr) != fmt.Sprint(want.oldErr) || fmt.Sprint(got.objErr) != fmt.Sprint(want.objErr) {
				t.Errorf("object errors %v, %v, want %v, %v", got.oldErr, got.objErr, want.oldErr, want.objErr)
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

// TestConcurrentAdmissionsAnswerAsOneAtATime sends reviews through one
// server from many goroutines at once, sharing one parsed target whose
// patch set adds an object and then writes into it, copies and moves it:
// every answer must be the one the review gets alone. Run with -race, it
// finds shared maps or slices written by the fast reader, the policies'
// shallow copies or the patch set.
func TestConcurrentAdmissionsAnswerAsOneAtATime(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n"+
		"  - {op: add, path: /spec/template/spec/x, value: {a: [1, {b: c}]}}\n"+
		"  - {op: add, path: /spec/template/spec/x/a/1/d, value: e}\n"+
		"  - {op: copy, from: /spec/template/spec/x, path: /spec/template/spec/y}\n"+
		"  - {op: add, path: /spec/template/spec/y/a/-, value: f}\n"+
		"  - {op: move, from: /spec/template/spec/x, path: /spec/template/spec/z}\n"), "staging")
	target = versioned(target, "uid-1", "7")
	lookup := &cachedLookup{target: target}
	lookup.Target(context.Background(), platformNS, "staging") // parsed once, before the goroutines share it
	s, _ := newTestServer(t, lookup, nil, rbac.ModeOff)
	h := s.Handler()
	dep := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	bodies := [][]byte{
		appliedReview(t, admissionv1.Create),
		appliedReview(t, admissionv1.Update),
		review(admissionv1.Create, nil, dep),
		review(admissionv1.Update, admittedDeployment(yamlDeployment), dep),
		review(admissionv1.Create, nil, configMap("prod", resource.KindTarget, seedTarget)),
	}
	answer := func(path string, body []byte) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return fmt.Sprint(rec.Code, rec.Body.String())
	}
	type call struct {
		path string
		body []byte
		want string
	}
	var calls []call
	for _, b := range bodies {
		for _, path := range []string{"/mutate", "/validate"} {
			calls = append(calls, call{path, b, answer(path, b)})
		}
	}
	if !strings.Contains(calls[0].want, `"patch"`) {
		t.Fatalf("the first review should be patched: %s", calls[0].want)
	}
	const workers, rounds = 8, 20
	errs := make(chan string, workers*rounds*len(calls))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range calls {
					c := calls[(i+w+r)%len(calls)]
					if got := answer(c.path, c.body); got != c.want {
						errs <- fmt.Sprintf("%s answered\n%s\nalone\n%s", c.path, got, c.want)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// BenchmarkDeploymentCreateOverHTTP posts the kubectl-applied deployment
// CREATE over one kept-alive loopback connection, as flinkgate serve's
// listener would receive it, with and without connection body buffers.
// The client's work is included: compare the two, not with the handler
// benchmarks.
func BenchmarkDeploymentCreateOverHTTP(b *testing.B) {
	for _, bc := range []struct {
		name    string
		buffers bool
	}{{"fresh buffers", false}, {"connection buffers", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := newTestServer(b, benchLookup(), nil, rbac.ModeOff)
			srv := httptest.NewUnstartedServer(s.Handler())
			if bc.buffers {
				srv.Config.ConnContext = ConnContext
				srv.Config.ConnState = ConnState
			}
			srv.Start()
			defer srv.Close()
			client := srv.Client()
			body := appliedReview(b, admissionv1.Create)
			b.ReportAllocs()
			for b.Loop() {
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/mutate", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				out, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(out, []byte(`"allowed":true`)) {
					b.Fatalf("unexpected answer %d: %s", resp.StatusCode, out)
				}
			}
		})
	}
}
