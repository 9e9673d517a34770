// Package wire reads AdmissionReviews of ConfigMaps and writes their
// answers and JSON patches, byte for byte as encoding/json would, without
// its reflection: the usual review is read in one pass (decode.go,
// decodereview.go), the usual answer and patch are appended to a caller's
// buffer (encode.go, jsondiff.go), and anything unusual is left to
// encoding/json, so that it is answered exactly as before.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Review is a decoded AdmissionReview request with its objects decoded as
// ConfigMaps.
type Review struct {
	TypeMeta metav1.TypeMeta
	Request  *admissionv1.AdmissionRequest
	// Old and Object are the request's objects. Request.OldObject and
	// Request.Object are empty when the objects were decoded in one pass.
	Old, Object *corev1.ConfigMap
	// OldErr and ObjectErr say why an object is not a ConfigMap.
	OldErr, ObjectErr error
}

// wireReview decodes an AdmissionReview and its objects in one pass: the
// object fields here hide the embedded request's raw ones.
type wireReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *wireRequest `json:"request,omitempty"`
}

type wireRequest struct {
	admissionv1.AdmissionRequest
	Object    *corev1.ConfigMap `json:"object,omitempty"`
	OldObject *corev1.ConfigMap `json:"oldObject,omitempty"`
}

// DecodeReview parses an AdmissionReview v1 request body. The usual case
// is read by the fast reader (decode.go) in one pass; whatever it leaves
// to encoding/json is decoded as before, so it is answered exactly as
// before. Its errors say why the body is not a readable review.
func DecodeReview(body []byte) (*Review, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("the request body is empty; expected an AdmissionReview")
	}
	if fr, err := fastDecodeReview(body); err == nil {
		return wireToReview(fr.TypeMeta, fr.Request)
	}
	return decodeReviewWithJSON(body)
}

// decodeReviewWithJSON is DecodeReview with encoding/json alone: objects
// that decode as ConfigMaps take one pass; anything else is decoded again
// the general way, so that an object that is not a ConfigMap gets its own
// answer.
func decodeReviewWithJSON(body []byte) (*Review, error) {
	var wire wireReview
	if err := json.Unmarshal(body, &wire); err == nil {
		return wireToReview(wire.TypeMeta, wire.Request)
	}
	return decodeReviewInTwoPasses(body)
}

func wireToReview(tm metav1.TypeMeta, req *wireRequest) (*Review, error) {
	rv := &Review{TypeMeta: tm}
	if req != nil {
		rv.Request = &req.AdmissionRequest
		rv.Old, rv.OldErr = checkKind(req.OldObject)
		rv.Object, rv.ObjectErr = checkKind(req.Object)
	}
	if err := rv.check(); err != nil {
		return nil, err
	}
	return rv, nil
}

// decodeReviewInTwoPasses decodes the review, then each object, so that an
// object that is not a ConfigMap gets its own answer.
func decodeReviewInTwoPasses(body []byte) (*Review, error) {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("the request body is not an AdmissionReview: %w", err)
	}
	rv := &Review{TypeMeta: review.TypeMeta, Request: review.Request}
	if err := rv.check(); err != nil {
		return nil, err
	}
	rv.Old, rv.OldErr = DecodeConfigMap(review.Request.OldObject)
	rv.Object, rv.ObjectErr = DecodeConfigMap(review.Request.Object)
	return rv, nil
}

func (rv *Review) check() error {
	if rv.TypeMeta.APIVersion != "admission.k8s.io/v1" || rv.TypeMeta.Kind != "AdmissionReview" {
		return fmt.Errorf("expected apiVersion admission.k8s.io/v1, kind AdmissionReview, got %q, %q", rv.TypeMeta.APIVersion, rv.TypeMeta.Kind)
	}
	if rv.Request == nil || rv.Request.UID == "" {
		return errors.New("the AdmissionReview has no request or no request uid")
	}
	return nil
}

// DecodeConfigMap decodes a request's object as a ConfigMap; an empty one
// is nil.
func DecodeConfigMap(raw runtime.RawExtension) (*corev1.ConfigMap, error) {
	if len(raw.Raw) == 0 {
		return nil, nil
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(raw.Raw, &cm); err != nil {
		return nil, fmt.Errorf("decode configmap: %w", err)
	}
	return checkKind(&cm)
}

// checkKind refuses an object that says it is something else.
func checkKind(cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	if cm != nil && cm.Kind != "" && cm.Kind != "ConfigMap" {
		return nil, fmt.Errorf("got kind %q", cm.Kind)
	}
	return cm, nil
}
