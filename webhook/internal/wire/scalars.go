package wire

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the fast reader's strings and numbers (decode.go): each
// read as encoding/json reads it, or the reader gives up.

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
