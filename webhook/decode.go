package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file reads an AdmissionReview and its ConfigMaps in one pass over
// the bytes, without reflection. It builds exactly what encoding/json
// builds, or gives up: anything it does not handle the plain way (a key
// that differs from a field's name only in case, a repeated field, a value
// of another type, an escape it does not decode, invalid UTF-8, deep
// nesting, a syntax error) sends the body to encoding/json, so every
// refusal keeps encoding/json's message. Tests compare the two on tables
// and on random and fuzzed reviews.

// errLeftToJSON says the fast reader gave up; the caller decodes with
// encoding/json.
var errLeftToJSON = errors.New("webhook: review left to encoding/json")

// maxFastDepth bounds the nesting the fast reader follows (a ConfigMap's
// managed fields are about 6 deep); deeper input goes to encoding/json,
// which has its own bound.
const maxFastDepth = 64

// fastReader reads JSON from b at i; ok turns false at the first thing it
// leaves to encoding/json, and every method is then a no-op.
type fastReader struct {
	b     []byte
	i     int
	depth int
	ok    bool
	// keyEscaped says the member name last read has escapes.
	keyEscaped bool
}

// fastDecodeReview reads a review the way DecodeReview's encoding/json
// pass does: the request with its objects decoded as ConfigMaps.
func fastDecodeReview(body []byte) (fastReview, error) {
	r := &fastReader{b: body, ok: true}
	var out fastReview
	r.ws()
	r.object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			r.once(&out.seen, 0)
			r.stringInto(&out.TypeMeta.APIVersion)
		case "kind":
			r.once(&out.seen, 1)
			r.stringInto(&out.TypeMeta.Kind)
		case "request":
			r.once(&out.seen, 2)
			if r.null() {
				out.Request = nil
				return
			}
			out.Request = &wireRequest{}
			r.request(out.Request)
		default:
			r.unknown(k, reviewFields)
		}
	})
	r.ws()
	if !r.ok || r.i != len(r.b) {
		return fastReview{}, errLeftToJSON
	}
	return out, nil
}

// fastReview is the fast reader's wireReview; seen notes its fields.
type fastReview struct {
	TypeMeta metav1.TypeMeta
	Request  *wireRequest
	seen     uint64
}

// fastDecodeConfigMap reads one ConfigMap as encoding/json would.
func fastDecodeConfigMap(raw []byte) (*corev1.ConfigMap, error) {
	r := &fastReader{b: raw, ok: true}
	r.ws()
	cm := r.configMapPtr()
	r.ws()
	if !r.ok || r.i != len(r.b) {
		return nil, errLeftToJSON
	}
	return cm, nil
}

// The field names of each type, for refusing keys that encoding/json would
// match without regard to case.
var (
	reviewFields      = []string{"apiversion", "kind", "request"}
	requestFields     = []string{"uid", "kind", "resource", "subresource", "requestkind", "requestresource", "requestsubresource", "name", "namespace", "operation", "userinfo", "object", "oldobject", "dryrun", "options"}
	gvkFields         = []string{"group", "version", "kind"}
	gvrFields         = []string{"group", "version", "resource"}
	userFields        = []string{"username", "uid", "groups", "extra"}
	configMapFields   = []string{"apiversion", "kind", "metadata", "immutable", "data", "binarydata"}
	objectMetaFields  = []string{"name", "generatename", "namespace", "selflink", "uid", "resourceversion", "generation", "creationtimestamp", "deletiontimestamp", "deletiongraceperiodseconds", "labels", "annotations", "ownerreferences", "finalizers", "managedfields"}
	ownerRefFields    = []string{"apiversion", "kind", "name", "uid", "controller", "blockownerdeletion"}
	managedFieldNames = []string{"manager", "operation", "apiversion", "time", "fieldstype", "fieldsv1", "subresource"}
)

func (r *fastReader) fail() { r.ok = false }

// once marks field bit as seen; a repeated field is left to encoding/json,
// which merges some kinds of values rather than replacing them.
func (r *fastReader) once(seen *uint64, bit uint) {
	if *seen&(1<<bit) != 0 {
		r.fail()
	}
	*seen |= 1 << bit
}

// unknown skips the value of a key that names no field, unless
// encoding/json would match it to one regardless of case.
func (r *fastReader) unknown(k []byte, fields []string) {
	if r.keyEscaped { // may spell a field's name
		r.fail()
		return
	}
	for _, c := range k {
		if c >= utf8.RuneSelf { // may fold to an ASCII letter (ſ, K)
			r.fail()
			return
		}
	}
	for _, f := range fields {
		if len(f) == len(k) && asciiLowerEqual(k, f) {
			r.fail()
			return
		}
	}
	r.skipValue()
}

func asciiLowerEqual(k []byte, lower string) bool {
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func (r *fastReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *fastReader) peek() byte {
	if !r.ok || r.i >= len(r.b) {
		r.fail()
		return 0
	}
	return r.b[r.i]
}

// literal consumes word (null, true, false) if it is next.
func (r *fastReader) literal(word string) bool {
	if r.ok && len(r.b)-r.i >= len(word) && string(r.b[r.i:r.i+len(word)]) == word {
		r.i += len(word)
		return true
	}
	return false
}

// null consumes a null literal if it is next.
func (r *fastReader) null() bool { return r.peek() == 'n' && r.literal("null") }

// object reads an object's members, calling each with the reader at the
// member's value; each must consume the value.
func (r *fastReader) object(each func(key []byte)) {
	if r.peek() != '{' {
		r.fail()
		return
	}
	r.depth++
	if r.depth > maxFastDepth {
		r.fail()
		return
	}
	r.i++
	r.ws()
	if r.peek() == '}' {
		r.i++
		r.depth--
		return
	}
	for r.ok {
		k := r.key()
		r.ws()
		if r.peek() != ':' {
			r.fail()
			return
		}
		r.i++
		r.ws()
		if !r.ok {
			return
		}
		each(k)
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
			r.ws()
		case '}':
			r.i++
			r.depth--
			return
		default:
			r.fail()
		}
	}
}

// array reads an array's elements, calling each with the reader at the
// element.
func (r *fastReader) array(each func()) {
	if r.peek() != '[' {
		r.fail()
		return
	}
	r.depth++
	if r.depth > maxFastDepth {
		r.fail()
		return
	}
	r.i++
	r.ws()
	if r.peek() == ']' {
		r.i++
		r.depth--
		return
	}
	for r.ok {
		each()
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
			r.ws()
		case ']':
			r.i++
			r.depth--
			return
		default:
			r.fail()
		}
	}
}

// key reads a member name, still escaped if r.keyEscaped: no field's
// name has escapes, and map keys are unescaped by mapKey.
func (r *fastReader) key() []byte {
	seg, escaped := r.stringBytes()
	r.keyEscaped = escaped
	return seg
}

// stringBytes scans a string and returns its bytes between the quotes,
// still escaped if escaped is true. Control characters, bad escapes and
// invalid UTF-8 (which encoding/json would replace) make the reader fail.
func (r *fastReader) stringBytes() (seg []byte, escaped bool) {
	if r.peek() != '"' {
		r.fail()
		return nil, false
	}
	b := r.b
	start := r.i + 1
	ascii := true
	for j := start; j < len(b); {
		for j < len(b) && plainByte[b[j]] {
			j++
		}
		if j == len(b) {
			break
		}
		c := b[j]
		switch {
		case c == '"':
			r.i = j + 1
			seg = b[start:j]
			if !ascii && !utf8.Valid(seg) {
				r.fail()
			}
			return seg, escaped
		case c == '\\':
			escaped = true
			if j+1 >= len(b) {
				r.fail()
				return nil, false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) || !isHex4(b[j+2:j+6]) {
					r.fail()
					return nil, false
				}
				j += 6
			default:
				r.fail()
				return nil, false
			}
		case c < 0x20:
			r.fail()
			return nil, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			j++
		}
	}
	r.fail()
	return nil, false
}

// plainByte marks the bytes a string holds as they are: printable ASCII
// but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(h []byte) bool {
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// str reads a string's value.
func (r *fastReader) str() string {
	seg, escaped := r.stringBytes()
	if !r.ok {
		return ""
	}
	if !escaped {
		return intern(seg)
	}
	return r.unescape(seg)
}

// unescape decodes a scanned string's escapes. A \u escape of half a
// surrogate pair, which encoding/json turns into U+FFFD, is left to it.
func (r *fastReader) unescape(seg []byte) string {
	var out strings.Builder // its String does not copy
	out.Grow(len(seg))
	for i := 0; i < len(seg); {
		c := seg[i]
		if c != '\\' {
			j := bytes.IndexByte(seg[i:], '\\')
			if j < 0 {
				j = len(seg) - i
			}
			out.Write(seg[i : i+j])
			i += j
			continue
		}
		switch e := seg[i+1]; e {
		case '"', '\\', '/':
			out.WriteByte(e)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			c := hex4(seg[i+2 : i+6])
			if utf16.IsSurrogate(c) {
				if c >= 0xdc00 || i+12 > len(seg) || seg[i+6] != '\\' || seg[i+7] != 'u' {
					r.fail()
					return ""
				}
				lo := hex4(seg[i+8 : i+12])
				c = utf16.DecodeRune(c, lo)
				if c == utf8.RuneError {
					r.fail()
					return ""
				}
				i += 6
			}
			out.WriteRune(c)
			i += 6
			continue
		}
		i += 2
	}
	return out.String()
}

func hex4(h []byte) rune {
	var v rune
	for _, c := range h {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		v = v<<4 | rune(c)
	}
	return v
}

// intern returns the strings every review repeats without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "v1":
		return "v1"
	case "ConfigMap":
		return "ConfigMap"
	case "configmaps":
		return "configmaps"
	case "CREATE":
		return "CREATE"
	case "UPDATE":
		return "UPDATE"
	case "DELETE":
		return "DELETE"
	case "admission.k8s.io/v1":
		return "admission.k8s.io/v1"
	case "AdmissionReview":
		return "AdmissionReview"
	case "flinkgate.io/kind":
		return "flinkgate.io/kind"
	case "Deployment":
		return "Deployment"
	case "DeploymentTarget":
		return "DeploymentTarget"
	case "resource.yaml":
		return "resource.yaml"
	case "kubectl.kubernetes.io/last-applied-configuration":
		return "kubectl.kubernetes.io/last-applied-configuration"
	case "system:authenticated":
		return "system:authenticated"
	}
	return string(b)
}

// stringInto reads a string into *dst; null leaves it as it is.
func (r *fastReader) stringInto(dst *string) {
	if r.null() {
		return
	}
	*dst = r.str()
}

// boolPtr reads a *bool: null is nil.
func (r *fastReader) boolPtr() *bool {
	switch {
	case r.null():
		return nil
	case r.literal("true"):
		v := true
		return &v
	case r.literal("false"):
		v := false
		return &v
	}
	r.fail()
	return nil
}

// int64Into reads an integer as encoding/json does (strconv.ParseInt of
// the literal); null leaves *dst as it is.
func (r *fastReader) int64Into(dst *int64) {
	if r.null() {
		return
	}
	start := r.i
	r.number()
	if !r.ok {
		return
	}
	v, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	if err != nil {
		r.fail()
		return
	}
	*dst = v
}

// number scans a JSON number.
func (r *fastReader) number() {
	b, j := r.b, r.i
	digits := func() bool {
		s := j
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		return j > s
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case !digits():
		r.fail()
		return
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			r.fail()
			return
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			r.fail()
			return
		}
	}
	r.i = j
}

// skipValue scans any value, checking its syntax as encoding/json does
// before it decodes.
func (r *fastReader) skipValue() {
	switch c := r.peek(); {
	case c == '{':
		r.object(func([]byte) { r.skipValue() })
	case c == '[':
		r.array(r.skipValue)
	case c == '"':
		r.stringBytes()
	case c == 't':
		r.ok = r.literal("true")
	case c == 'f':
		r.ok = r.literal("false")
	case c == 'n':
		r.ok = r.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		r.number()
	default:
		r.fail()
	}
}

// rawValue scans a value and returns its bytes.
func (r *fastReader) rawValue() []byte {
	start := r.i
	r.skipValue()
	if !r.ok {
		return nil
	}
	return r.b[start:r.i]
}

// strings reads a []string: null is nil, a null element "".
func (r *fastReader) strings() []string {
	if r.null() {
		return nil
	}
	var buf [8]string // one allocation for the usual short list
	out := buf[:0]
	r.array(func() {
		var s string
		r.stringInto(&s)
		out = append(out, s)
	})
	return slices.Clip(append([]string{}, out...))
}

// stringMap reads a map[string]string: null is nil, a null value "".
func (r *fastReader) stringMap() map[string]string {
	if r.null() {
		return nil
	}
	out := map[string]string{}
	r.object(func(k []byte) {
		key := r.mapKey(k)
		var v string
		r.stringInto(&v)
		out[key] = v
	})
	return out
}

// mapKey is a map member's name; call it before reading the value.
func (r *fastReader) mapKey(k []byte) string {
	if r.keyEscaped {
		return r.unescape(k)
	}
	return intern(k)
}

func (r *fastReader) request(req *wireRequest) {
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "uid":
			r.once(&seen, 0)
			r.stringInto((*string)(&req.UID))
		case "kind":
			r.once(&seen, 1)
			r.gvk(&req.Kind)
		case "resource":
			r.once(&seen, 2)
			r.gvr(&req.Resource)
		case "subResource":
			r.once(&seen, 3)
			r.stringInto(&req.SubResource)
		case "requestKind":
			r.once(&seen, 4)
			if r.null() {
				req.RequestKind = nil
				return
			}
			req.RequestKind = &metav1.GroupVersionKind{}
			r.gvk(req.RequestKind)
		case "requestResource":
			r.once(&seen, 5)
			if r.null() {
				req.RequestResource = nil
				return
			}
			req.RequestResource = &metav1.GroupVersionResource{}
			r.gvr(req.RequestResource)
		case "requestSubResource":
			r.once(&seen, 6)
			r.stringInto(&req.RequestSubResource)
		case "name":
			r.once(&seen, 7)
			r.stringInto(&req.Name)
		case "namespace":
			r.once(&seen, 8)
			r.stringInto(&req.Namespace)
		case "operation":
			r.once(&seen, 9)
			r.stringInto((*string)(&req.Operation))
		case "userInfo":
			r.once(&seen, 10)
			r.userInfo(&req.UserInfo)
		case "object":
			r.once(&seen, 11)
			req.Object = r.configMapPtr()
		case "oldObject":
			r.once(&seen, 12)
			req.OldObject = r.configMapPtr()
		case "dryRun":
			r.once(&seen, 13)
			req.DryRun = r.boolPtr()
		case "options":
			r.once(&seen, 14)
			raw := r.rawValue()
			if r.ok && string(raw) != "null" {
				req.Options.Raw = bytes.Clone(raw)
			}
		default:
			r.unknown(k, requestFields)
		}
	})
}

func (r *fastReader) gvk(v *metav1.GroupVersionKind) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "group":
			r.once(&seen, 0)
			r.stringInto(&v.Group)
		case "version":
			r.once(&seen, 1)
			r.stringInto(&v.Version)
		case "kind":
			r.once(&seen, 2)
			r.stringInto(&v.Kind)
		default:
			r.unknown(k, gvkFields)
		}
	})
}

func (r *fastReader) gvr(v *metav1.GroupVersionResource) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "group":
			r.once(&seen, 0)
			r.stringInto(&v.Group)
		case "version":
			r.once(&seen, 1)
			r.stringInto(&v.Version)
		case "resource":
			r.once(&seen, 2)
			r.stringInto(&v.Resource)
		default:
			r.unknown(k, gvrFields)
		}
	})
}

func (r *fastReader) userInfo(u *authenticationv1.UserInfo) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "username":
			r.once(&seen, 0)
			r.stringInto(&u.Username)
		case "uid":
			r.once(&seen, 1)
			r.stringInto(&u.UID)
		case "groups":
			r.once(&seen, 2)
			u.Groups = r.strings()
		case "extra":
			r.once(&seen, 3)
			if r.null() {
				u.Extra = nil
				return
			}
			u.Extra = map[string]authenticationv1.ExtraValue{}
			r.object(func(k []byte) {
				key := r.mapKey(k)
				u.Extra[key] = r.strings()
			})
		default:
			r.unknown(k, userFields)
		}
	})
}

// configMapPtr reads a *ConfigMap: null is nil.
func (r *fastReader) configMapPtr() *corev1.ConfigMap {
	if r.null() {
		return nil
	}
	cm := &corev1.ConfigMap{}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			r.once(&seen, 0)
			r.stringInto(&cm.APIVersion)
		case "kind":
			r.once(&seen, 1)
			r.stringInto(&cm.Kind)
		case "metadata":
			r.once(&seen, 2)
			r.objectMeta(&cm.ObjectMeta)
		case "immutable":
			r.once(&seen, 3)
			cm.Immutable = r.boolPtr()
		case "data":
			r.once(&seen, 4)
			cm.Data = r.stringMap()
		case "binaryData":
			r.once(&seen, 5)
			cm.BinaryData = r.bytesMap()
		default:
			r.unknown(k, configMapFields)
		}
	})
	return cm
}

// bytesMap reads a map[string][]byte as encoding/json does: base64
// strings, null values nil.
func (r *fastReader) bytesMap() map[string][]byte {
	if r.null() {
		return nil
	}
	out := map[string][]byte{}
	r.object(func(k []byte) {
		key := r.mapKey(k)
		if r.null() {
			out[key] = nil
			return
		}
		s := r.str()
		if !r.ok {
			return
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(b, []byte(s))
		if err != nil {
			r.fail()
			return
		}
		out[key] = b[:n]
	})
	return out
}

func (r *fastReader) objectMeta(m *metav1.ObjectMeta) {
	if r.null() {
		return
	}
	var seen uint64
	r.object(func(k []byte) {
		switch string(k) {
		case "name":
			r.once(&seen, 0)
			r.stringInto(&m.Name)
		case "generateName":
			r.once(&seen, 1)
			r.stringInto(&m.GenerateName)
		case "namespace":
			r.once(&seen, 2)
			r.stringInto(&m.Namespace)
		case "selfLink":
			r.once(&seen, 3)
			r.stringInto(&m.SelfLink)
		case "uid":
			r.once(&seen, 4)
			r.stringInto((*string)(&m.UID))
		case "resourceVersion":
			r.once(&seen, 5)
			r.stringInto(&m.ResourceVersion)
		case "generation":
			r.once(&seen, 6)
			r.int64Into(&m.Generation)
		case "creationTimestamp":
			r.once(&seen, 7)
			r.timeInto(&m.CreationTimestamp)
		case "deletionTimestamp":
			r.once(&seen, 8)
			if r.null() {
				m.DeletionTimestamp = nil
				return
			}
			m.DeletionTimestamp = &metav1.Time{}
			r.timeInto(m.DeletionTimestamp)
		case "deletionGracePeriodSeconds":
			r.once(&seen, 9)
			if r.null() {
				m.DeletionGracePeriodSeconds = nil
				return
			}
			var v int64
			r.int64Into(&v)
			m.DeletionGracePeriodSeconds = &v
		case "labels":
			r.once(&seen, 10)
			m.Labels = r.stringMap()
		case "annotations":
			r.once(&seen, 11)
			m.Annotations = r.stringMap()
		case "ownerReferences":
			r.once(&seen, 12)
			m.OwnerReferences = r.ownerReferences()
		case "finalizers":
			r.once(&seen, 13)
			m.Finalizers = r.strings()
		case "managedFields":
			r.once(&seen, 14)
			m.ManagedFields = r.managedFields()
		default:
			r.unknown(k, objectMetaFields)
		}
	})
}

// timeInto reads a metav1.Time with its own UnmarshalJSON, short-cutting
// the common unescaped ASCII string, which that method would unquote with
// encoding/json and parse the same way.
func (r *fastReader) timeInto(t *metav1.Time) {
	raw := r.rawValue()
	if !r.ok {
		return
	}
	if len(raw) >= 2 && raw[0] == '"' && isPlainASCII(raw[1:len(raw)-1]) {
		pt, err := time.Parse(time.RFC3339, string(raw[1:len(raw)-1]))
		if err != nil {
			r.fail()
			return
		}
		t.Time = pt.Local()
		return
	}
	if err := t.UnmarshalJSON(raw); err != nil {
		r.fail()
	}
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

func (r *fastReader) ownerReferences() []metav1.OwnerReference {
	if r.null() {
		return nil
	}
	out := []metav1.OwnerReference{}
	r.array(func() {
		var o metav1.OwnerReference
		if !r.null() {
			var seen uint64
			r.object(func(k []byte) {
				switch string(k) {
				case "apiVersion":
					r.once(&seen, 0)
					r.stringInto(&o.APIVersion)
				case "kind":
					r.once(&seen, 1)
					r.stringInto(&o.Kind)
				case "name":
					r.once(&seen, 2)
					r.stringInto(&o.Name)
				case "uid":
					r.once(&seen, 3)
					r.stringInto((*string)(&o.UID))
				case "controller":
					r.once(&seen, 4)
					o.Controller = r.boolPtr()
				case "blockOwnerDeletion":
					r.once(&seen, 5)
					o.BlockOwnerDeletion = r.boolPtr()
				default:
					r.unknown(k, ownerRefFields)
				}
			})
		}
		out = append(out, o)
	})
	return out
}

func (r *fastReader) managedFields() []metav1.ManagedFieldsEntry {
	if r.null() {
		return nil
	}
	out := []metav1.ManagedFieldsEntry{}
	r.array(func() {
		var e metav1.ManagedFieldsEntry
		if !r.null() {
			var seen uint64
			r.object(func(k []byte) {
				switch string(k) {
				case "manager":
					r.once(&seen, 0)
					r.stringInto(&e.Manager)
				case "operation":
					r.once(&seen, 1)
					r.stringInto((*string)(&e.Operation))
				case "apiVersion":
					r.once(&seen, 2)
					r.stringInto(&e.APIVersion)
				case "time":
					r.once(&seen, 3)
					if r.null() {
						e.Time = nil
						return
					}
					e.Time = &metav1.Time{}
					r.timeInto(e.Time)
				case "fieldsType":
					r.once(&seen, 4)
					r.stringInto(&e.FieldsType)
				case "fieldsV1":
					r.once(&seen, 5)
					if r.null() {
						e.FieldsV1 = nil
						return
					}
					raw := r.rawValue()
					if !r.ok {
						return
					}
					e.FieldsV1 = &metav1.FieldsV1{}
					if err := e.FieldsV1.UnmarshalJSON(raw); err != nil {
						r.fail()
					}
				case "subresource":
					r.once(&seen, 6)
					r.stringInto(&e.Subresource)
				default:
					r.unknown(k, managedFieldNames)
				}
			})
		}
		out = append(out, e)
	})
	return out
}
