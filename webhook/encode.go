package webhook

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file writes the usual answers without reflection, byte for byte as
// encoding/json writes them (tests compare the two on random answers);
// anything else is left to encoding/json.

// encodeAnswer is json.Marshal of the AdmissionReview answering with resp.
func encodeAnswer(tm metav1.TypeMeta, resp *admissionv1.AdmissionResponse) ([]byte, error) {
	if resp.Result != nil { // a denial: rare enough for encoding/json
		return json.Marshal(&admissionv1.AdmissionReview{TypeMeta: tm, Response: resp})
	}
	b := make([]byte, 0, 160+base64.StdEncoding.EncodedLen(len(resp.Patch))+64*len(resp.AuditAnnotations))
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
	if len(resp.AuditAnnotations) > 0 {
		b = append(b, `,"auditAnnotations":`...)
		b = appendStringMap(b, resp.AuditAnnotations)
	}
	if len(resp.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, resp.Warnings)
	}
	return append(b, "}}"...), nil
}

// encodePatch is json.Marshal of ops.
func encodePatch(ops []jsonPatchOp) ([]byte, error) {
	b := make([]byte, 0, patchSizeHint(ops))
	b = append(b, '[')
	for i, op := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, op.Op)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, op.Path)
		if op.Value != nil {
			b = append(b, `,"value":`...)
			switch v := op.Value.(type) {
			case string:
				b = appendJSONString(b, v)
			case bool:
				if v {
					b = append(b, "true"...)
				} else {
					b = append(b, "false"...)
				}
			case map[string]string:
				b = appendStringMap(b, v)
			case []string:
				b = appendStrings(b, v)
			default: // binary data, or the generic diff's values
				out, err := json.Marshal(ops)
				if err != nil {
					return nil, fmt.Errorf("marshal json patch: %w", err)
				}
				return out, nil
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// patchSizeHint is about the encoded size of ops, so the buffer is
// allocated once: the patched document dominates it.
func patchSizeHint(ops []jsonPatchOp) int {
	n := 2
	for _, op := range ops {
		n += 32 + len(op.Path)
		switch v := op.Value.(type) {
		case string:
			n += len(v) + len(v)/8 // a little for escapes
		case map[string]string:
			for k, x := range v {
				n += 6 + len(k) + len(x) + len(x)/8
			}
		}
	}
	return n
}

// appendStringMap writes m with its keys sorted, as encoding/json does.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

func appendStrings(b []byte, s []string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// htmlSafe marks the ASCII bytes encoding/json writes as they are: it
// escapes quotes, backslashes, control characters and, for HTML, <, > and
// &.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString writes s quoted as encoding/json does: HTML characters,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
