package wire

import (
	"errors"
	"slices"
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
var errLeftToJSON = errors.New("wire: review left to encoding/json")

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
