package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes patches and JSON values without reflection, byte for byte as
// encoding/json writes them (tests compare the two on random answers);
// anything else is left to encoding/json.

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

// encodeTypedPatch is json.Marshal of the typed diff's operations, as
// their generic jsonPatchOps (op, path with the key escaped as a JSON
// pointer token, value) would be written, over dst's bytes if it has the
// room.
func encodeTypedPatch(dst []byte, ops []typedOp) []byte {
	b := dst[:0]
	if size := typedPatchSizeHint(ops); cap(b) < size {
		b = make([]byte, 0, size)
	}
	b = append(b, '[')
	for i := range ops {
		op := &ops[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, op.op)
		b = append(b, `,"path":"`...)
		b = appendJSONChars(b, op.path)
		if op.hasKey {
			b = append(b, '/')
			b = appendPointerToken(b, op.key)
		}
		b = append(b, '"')
		if op.kind != valueNone {
			b = append(b, `,"value":`...)
		}
		switch op.kind {
		case valueString:
			b = appendJSONString(b, op.str)
		case valueBool:
			b = strconv.AppendBool(b, op.boolean)
		case valueStrings:
			b = appendStrings(b, op.strs)
		case valueStringMap:
			b = appendStringMap(b, op.strMap)
		case valueBytes:
			b = appendBase64(b, op.bytes)
		case valueBytesMap:
			b = appendBytesMap(b, op.bytesMap)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// typedPatchSizeHint is about the encoded size of ops, so the buffer is
// allocated once: the patched document dominates it.
func typedPatchSizeHint(ops []typedOp) int {
	n := 2
	for i := range ops {
		op := &ops[i]
		n += 40 + len(op.path) + len(op.key) + len(op.key)/8
		switch op.kind {
		case valueString:
			n += len(op.str) + len(op.str)/8 // a little for escapes
		case valueStringMap:
			for k, v := range op.strMap {
				n += 6 + len(k) + len(v) + len(v)/8
			}
		}
	}
	return n
}

// appendPointerToken writes a JSON pointer token (~ as ~0, / as ~1) as
// the inside of a JSON string: jsonvalue.EscapeToken, then JSON escapes.
// Splitting at the ASCII ~ and / changes nothing of the JSON escapes, since
// those bytes never belong to a multi-byte character.
func appendPointerToken(b []byte, token string) []byte {
	for {
		i := strings.IndexAny(token, "~/")
		if i < 0 {
			return appendJSONChars(b, token)
		}
		b = appendJSONChars(b, token[:i])
		if token[i] == '~' {
			b = append(b, '~', '0')
		} else {
			b = append(b, '~', '1')
		}
		token = token[i+1:]
	}
}

// appendBase64 writes a []byte as encoding/json does: null for nil, else a
// base64 string.
func appendBase64(b, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// appendBytesMap writes m with its keys sorted, as encoding/json does.
func appendBytesMap(b []byte, m map[string][]byte) []byte { return appendSortedMap(b, m, appendBase64) }

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
	return appendSortedMap(b, m, appendJSONString)
}

// appendSortedMap writes m with its keys sorted, as encoding/json does, each
// value by appendValue.
func appendSortedMap[V any](b []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var buf [16]string // sorted without an allocation for the usual few keys
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendValue(b, m[k])
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

// htmlSafeWord reports whether the eight bytes of x are all htmlSafe,
// testing them at once as plainWord does, with <, > and & too.
func htmlSafeWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	lt, gt, amp := x^(ones*'<'), x^(ones*'>'), x^(ones*'&')
	special := (quote-ones)&^quote | (backslash-ones)&^backslash |
		(lt-ones)&^lt | (gt-ones)&^gt | (amp-ones)&^amp |
		(x - ones*0x20) | x
	return special&highs == 0
}

// appendJSONString writes s quoted as encoding/json does: HTML characters,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONChars(dst, s)
	return append(dst, '"')
}

// appendJSONChars writes s escaped as appendJSONString does, without the
// quotes.
func appendJSONChars(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && htmlSafeWord(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		if i == len(s) {
			break
		}
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
	return append(dst, s[start:]...)
}
