// This file is over 400 lines because the fast reader is one unit: its scanning, strings and
// numbers must match encoding/json together, and the tests compare them together.

package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
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

func (r *fastReader) fail() { r.ok = false }

// fields reads an object of the given fields (names as their JSON tags
// spell them), calling read with the field each member sets. A field
// repeated leaves the review to encoding/json, which would merge the two
// values; a key naming no field is skipped unless encoding/json would
// match it to one regardless of case, which also leaves the review to it.
func (r *fastReader) fields(names []string, read func(field string)) {
	var seen uint64 // bit i: names[i] was read; no type has 64 fields
	r.object(func(k []byte) {
		for i, n := range names {
			if string(k) == n {
				if seen&(1<<i) != 0 {
					r.fail()
					return
				}
				seen |= 1 << i
				read(n)
				return
			}
		}
		r.unknown(k, names)
	})
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
		if len(f) == len(k) && asciiEqualFold(k, f) {
			r.fail()
			return
		}
	}
	r.skipValue()
}

func asciiEqualFold(k []byte, name string) bool {
	for i, c := range k {
		if lowerASCII(c) != lowerASCII(name[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
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
	r.container('{', '}', func() {
		k := r.key()
		r.ws()
		if r.peek() != ':' {
			r.fail()
			return
		}
		r.i++
		r.ws()
		if r.ok {
			each(k)
		}
	})
}

// array reads an array's elements, calling each with the reader at the
// element.
func (r *fastReader) array(each func()) { r.container('[', ']', each) }

// container reads what open and close enclose, calling member with the
// reader at each member; the depth is bounded by maxFastDepth.
func (r *fastReader) container(open, close byte, member func()) {
	if r.peek() != open {
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
	if r.peek() == close {
		r.i++
		r.depth--
		return
	}
	for r.ok {
		member()
		if !r.ok {
			return
		}
		r.ws()
		switch r.peek() {
		case ',':
			r.i++
			r.ws()
		case close:
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
		for j+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
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

// plainWord reports whether the eight bytes of x are all plain bytes
// (plainByte), testing them at once: none is a quote or a backslash (a
// zero byte once those are xored in), below 0x20 (a borrow out of a byte
// that is not above 0x7f) or above 0x7f (the high bit). Each test is exact
// for "any byte", which is all the answer needs.
func plainWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	special := (quote-ones)&^quote | (backslash-ones)&^backslash | (x - ones*0x20) | x
	return special&highs == 0
}

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
