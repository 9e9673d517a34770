// Package reviewtest builds the AdmissionReviews of ConfigMaps that the
// webhook's tests and its wire format's tests send, so both read the same
// fixtures.
package reviewtest

import (
	"encoding/json"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"flinkgate.io/flinkgate/internal/resource"
)

// PlatformNS is the platform namespace the reviews are sent in.
const PlatformNS = "flink-platform"

// YAMLDeployment is a deployment of the target staging, in YAML.
const YAMLDeployment = `kind: Deployment
spec:
  deploymentTargetName: staging
  template:
    spec:
      parallelism: 2
`

// ConfigMap is a ConfigMap in PlatformNS labelled as kind (none if empty)
// holding doc.
func ConfigMap(name, kind, doc string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: PlatformNS, Labels: map[string]string{resource.LabelKind: kind}},
		Data:       map[string]string{resource.DataKey: doc},
	}
	if kind == "" {
		cm.Labels = nil
	}
	return cm
}

// Review is the body of an AdmissionReview of op on ConfigMaps old and obj
// (either may be nil).
func Review(op admissionv1.Operation, old, obj *corev1.ConfigMap) []byte {
	req := &admissionv1.AdmissionRequest{
		UID:       types.UID("0b5f1d5e-1111-4222-8333-444455556666"),
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Namespace: PlatformNS,
		Operation: op,
	}
	for _, o := range []struct {
		cm  *corev1.ConfigMap
		raw *runtime.RawExtension
	}{{old, &req.OldObject}, {obj, &req.Object}} {
		if o.cm != nil {
			b, _ := json.Marshal(o.cm)
			o.raw.Raw = b
			req.Name = o.cm.Name
		}
	}
	b, _ := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	return b
}

// Applied is a deployment CREATE or UPDATE shaped like the API
// server's after kubectl apply: the last-applied annotation, managed
// fields, owner references, options, a dry-run flag and user extras.
func Applied(t testing.TB, op admissionv1.Operation) []byte {
	t.Helper()
	cm := ConfigMap("top-speed-windowing", resource.KindDeployment, YAMLDeployment)
	applied, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	ts := metav1.NewTime(time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC))
	cm.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied) + "\n", "note": "café ☕ 😀 <b>&</b>"}
	cm.CreationTimestamp = ts
	cm.UID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	cm.ResourceVersion = "42"
	cm.Generation = 3
	cm.Finalizers = []string{"example.com/f"}
	cm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "p", UID: "u1", Controller: new(true)}}
	cm.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &ts,
		FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:data":{".":{},"f:resource.yaml":{}},"f:metadata":{"f:labels":{"f:flinkgate.io/kind":{}}}}`),
	}}
	raw, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	req := &admissionv1.AdmissionRequest{
		UID:             types.UID("4f1c2a9e-0d3b-4e5f-8a6b-7c8d9e0f1a2b"),
		Kind:            metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		Resource:        metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		RequestKind:     &metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
		RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		Name:            cm.Name, Namespace: PlatformNS, Operation: op,
		UserInfo: authenticationv1.UserInfo{Username: "system:admin", UID: "x", Groups: []string{"system:masters", "system:authenticated"},
			Extra: map[string]authenticationv1.ExtraValue{"scopes": {"a", "b"}}},
		Object:  runtime.RawExtension{Raw: raw},
		DryRun:  new(false),
		Options: runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply"}`)},
	}
	if op == admissionv1.Update {
		req.OldObject = runtime.RawExtension{Raw: raw}
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
	if err != nil {
		t.Fatal(err)
	}
	return body
}
