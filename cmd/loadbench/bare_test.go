package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestTheBarePairsAnswer holds the two yardsticks to what they stand for:
// the do-nothing pair answers "allowed" and nothing else; the pair + patch
// + GET answers a create with the patch it was given and reads the target
// live before it allows, and does nothing more for other operations.
func TestTheBarePairsAnswer(t *testing.T) {
	const patch = `[{"op":"add","path":"/metadata/labels/flinkgate.io~1deployment-target","value":"staging"}]`
	cases := []struct {
		name       string
		path       string
		op         admissionv1.Operation
		noTarget   bool
		wantPatch  bool
		wantReads  int
		wantDenied bool
	}{
		{name: "The do-nothing pair's mutating call of a create answers without a patch.", path: "/mutate", op: admissionv1.Create},
		{name: "The do-nothing pair's validating call of a create makes no read.", path: "/validate", op: admissionv1.Create},
		{name: "The pair + patch + GET's mutating call of a create answers with the patch.", path: "/read/mutate", op: admissionv1.Create, wantPatch: true},
		{name: "The pair + patch + GET's mutating call of an update answers without a patch.", path: "/read/mutate", op: admissionv1.Update},
		{name: "The pair + patch + GET's validating call of a create reads the target once.", path: "/read/validate", op: admissionv1.Create, wantReads: 1},
		{name: "The pair + patch + GET's validating call of an update makes no read.", path: "/read/validate", op: admissionv1.Update},
		{name: "The pair + patch + GET's validating call of a delete makes no read.", path: "/read/validate", op: admissionv1.Delete},
		{name: "The pair + patch + GET denies a create whose target it cannot read.", path: "/read/validate", op: admissionv1.Create, noTarget: true, wantReads: 1, wantDenied: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var objects []runtime.Object
			if !tc.noTarget {
				objects = append(objects, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: targetName, Namespace: readNS}})
			}
			client := fake.NewClientset(objects...)
			h := bareHandler(client)
			put := httptest.NewRecorder()
			h.ServeHTTP(put, httptest.NewRequest(http.MethodPut, "/read/patch", strings.NewReader(patch)))
			if put.Code != http.StatusOK {
				t.Fatalf("PUT /read/patch: %d %s", put.Code, put.Body)
			}
			review, err := json.Marshal(&admissionv1.AdmissionReview{
				TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
				Request:  &admissionv1.AdmissionRequest{UID: "u-1", Operation: tc.op, Namespace: readNS, Name: "d"},
			})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(review)))
			var got admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Response == nil {
				t.Fatalf("answer %d %q is not an AdmissionReview: %v", rec.Code, rec.Body, err)
			}
			if got.Response.UID != "u-1" || got.Response.Allowed == tc.wantDenied {
				t.Errorf("uid %q allowed %v, want uid u-1 allowed %v", got.Response.UID, got.Response.Allowed, !tc.wantDenied)
			}
			if hasPatch := string(got.Response.Patch) == patch; hasPatch != tc.wantPatch {
				t.Errorf("patch %q, want the given patch: %v", got.Response.Patch, tc.wantPatch)
			}
			if tc.wantPatch && (got.Response.PatchType == nil || *got.Response.PatchType != admissionv1.PatchTypeJSONPatch) {
				t.Errorf("patch type %v, want JSONPatch", got.Response.PatchType)
			}
			reads := 0
			for _, a := range client.Actions() {
				g, ok := a.(clienttesting.GetActionImpl)
				if !ok || g.GetResource().Resource != "configmaps" || g.GetName() != targetName || g.GetNamespace() != readNS {
					t.Errorf("unexpected request %s %s", a.GetVerb(), a.GetResource().Resource)
					continue
				}
				// A consistent read: the watch cache (resourceVersion "0")
				// would be cheaper and no fresher than flinkgate's informer.
				if g.GetOptions.ResourceVersion != "" {
					t.Errorf("the target was read at resourceVersion %q, want a consistent read", g.GetOptions.ResourceVersion)
				}
				reads++
			}
			if reads != tc.wantReads {
				t.Errorf("%d reads of the target, want %d", reads, tc.wantReads)
			}
			count := httptest.NewRecorder()
			h.ServeHTTP(count, httptest.NewRequest(http.MethodGet, "/reads", nil))
			if said := strings.TrimSpace(count.Body.String()); said != strconv.Itoa(tc.wantReads) {
				t.Errorf("GET /reads says %q, want %d", said, tc.wantReads)
			}
			answered := httptest.NewRecorder()
			h.ServeHTTP(answered, httptest.NewRequest(http.MethodGet, "/count", nil))
			if said := strings.TrimSpace(answered.Body.String()); said != "1" {
				t.Errorf("GET /count says %q after one review, want 1", said)
			}
		})
	}
}

// TestSamePatchedComparesWhatAWriteStores holds the check every create of
// the pair + patch + GET and of flinkgate passes: the stored object must
// carry what flinkgate's dry run returned.
func TestSamePatchedComparesWhatAWriteStores(t *testing.T) {
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"l": "1"}, Annotations: map[string]string{"a": "1"}},
		Data:       map[string]string{"resource.yaml": "doc"},
	}
	cases := []struct {
		name   string
		change func(*corev1.ConfigMap)
		same   bool
	}{
		{"An object that differs only in name and resource version is the same.", func(c *corev1.ConfigMap) { c.Name, c.ResourceVersion = "other", "7" }, true},
		{"Empty binary data is the same as none.", func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{} }, true},
		{"A missing annotation differs.", func(c *corev1.ConfigMap) { c.Annotations = nil }, false},
		{"Another label value differs.", func(c *corev1.ConfigMap) { c.Labels["l"] = "2" }, false},
		{"Another document differs.", func(c *corev1.ConfigMap) { c.Data["resource.yaml"] = "unpatched" }, false},
		{"A finalizer differs.", func(c *corev1.ConfigMap) { c.Finalizers = []string{"f"} }, false},
		{"Immutable differs.", func(c *corev1.ConfigMap) { c.Immutable = new(true) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := want.DeepCopy()
			tc.change(got)
			if same := samePatched(got, want); same != tc.same {
				t.Errorf("samePatched = %v, want %v", same, tc.same)
			}
		})
	}
}
