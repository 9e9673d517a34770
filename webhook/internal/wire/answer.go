package wire

import (
	"encoding/base64"
	"encoding/json"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file writes the usual answers without reflection, byte for byte as
// encoding/json writes them (tests compare the two on random answers);
// a denial is left to encoding/json.

// encodeAnswer is json.Marshal of the AdmissionReview answering with resp.
func encodeAnswer(tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) ([]byte, error) {
	return AppendAnswer(nil, tm, resp, nil)
}

// AppendAnswer is encodeAnswer written over dst's bytes: what dst holds
// is overwritten, and its capacity is used if it suffices. Notes, if not
// nil, are the audit annotations, written without a map (resp has none).
func AppendAnswer(dst []byte, tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse, notes *Notes) ([]byte, error) {
	if resp.Result != nil { // a denial: rare enough for encoding/json
		if notes != nil {
			withMap := *resp
			withMap.AuditAnnotations = notes.Annotations()
			resp = &withMap
		}
		return json.Marshal(&admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
	}
	b := dst[:0]
	if size := answerSizeHint(tm, resp) + notes.sizeHint(); cap(b) < size {
		b = make([]byte, 0, size) // not append's doubling of dst
	}
	b = append(b, '{')
	if tm.Kind != "" {
		b = append(b, `"kind":`...)
		b = appendJSONString(b, tm.Kind)
		b = append(b, ',')
	}
	if tm.APIVersion != "" {
		b = append(b, `"apiVersion":`...)
		b = appendJSONString(b, tm.APIVersion)
		b = append(b, ',')
	}
	b = append(b, `"response":{"uid":`...)
	b = appendJSONString(b, string(resp.UID))
	if resp.Allowed {
		b = append(b, `,"allowed":true`...)
	} else {
		b = append(b, `,"allowed":false`...)
	}
	if len(resp.Patch) > 0 {
		b = append(b, `,"patch":"`...)
		b = base64.StdEncoding.AppendEncode(b, resp.Patch)
		b = append(b, '"')
	}
	if resp.PatchType != nil {
		b = append(b, `,"patchType":`...)
		b = appendJSONString(b, string(*resp.PatchType))
	}
	if notes != nil {
		b = append(b, `,"auditAnnotations":`...)
		b = notes.appendJSON(b)
	} else if len(resp.AuditAnnotations) > 0 {
		b = append(b, `,"auditAnnotations":`...)
		b = appendStringMap(b, resp.AuditAnnotations)
	}
	if len(resp.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, resp.Warnings)
	}
	return append(b, "}}"...), nil
}

// answerSizeHint is about the size of an answer without a result, a
// little over for escapes, so its buffer is allocated once.
func answerSizeHint(tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) int {
	strs := len(tm.Kind) + len(tm.APIVersion) + len(resp.UID)
	for k, v := range resp.AuditAnnotations {
		strs += 6 + len(k) + len(v)
	}
	for _, w := range resp.Warnings {
		strs += 3 + len(w)
	}
	if resp.PatchType != nil {
		strs += len(*resp.PatchType)
	}
	return 128 + strs + strs/8 + base64.StdEncoding.EncodedLen(len(resp.Patch))
}

// appendJSON writes the notes as appendStringMap writes their map: keys
// in sorted order, which is decision, patched, reason, target.
func (n *Notes) appendJSON(b []byte) []byte {
	if n.Denied {
		b = append(b, `{"decision":"denied"`...)
	} else {
		b = append(b, `{"decision":"allowed"`...)
	}
	if n.Patched {
		b = append(b, `,"patched":"true"`...)
	}
	if n.Denied {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, n.Reason)
	}
	if n.Target != "" {
		b = append(b, `,"target":`...)
		b = appendJSONString(b, n.Target)
	}
	return append(b, '}')
}

// sizeHint is about the size of the notes' JSON; nil notes have none.
func (n *Notes) sizeHint() int {
	if n == nil {
		return 0
	}
	return 64 + len(n.Reason) + len(n.Target) + (len(n.Reason)+len(n.Target))/8
}

// Notes are an answer's audit annotations: decision (always), patched,
// reason (of a denial) and target (when known). AppendAnswer writes them
// without building their map.
type Notes struct {
	Denied, Patched bool
	Reason, Target  string
}

// Annotations are the notes as the response's map.
func (n Notes) Annotations() map[string]string {
	m := map[string]string{"decision": "allowed"}
	if n.Denied {
		m["decision"], m["reason"] = "denied", n.Reason
	}
	if n.Patched {
		m["patched"] = "true"
	}
	if n.Target != "" {
		m["target"] = n.Target
	}
	return m
}
