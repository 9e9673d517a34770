// Package jsonvalue says what is said of decoded JSON values (the trees
// encoding/json decodes with UseNumber: maps, slices, strings, bools,
// json.Number and nil): their kind names and previews for messages, equality
// by exact number, deep copies, and JSON pointers with their escaping. The
// document codec, the patch sets and the webhook's wire format all speak of
// the same values, so they share these words here rather than through one
// another.
package jsonvalue

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxPreview bounds how much of a value a message shows.
const maxPreview = 80

// Equal compares JSON values; numbers compare by value, so 1 equals 1.0.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		return x == y || numbersEqual(string(x), string(y))
	default:
		return a == b
	}
}

// numbersEqual compares two JSON numbers by exact decimal value, so 1 equals
// 1.0 and 1e0 but 2^53 does not equal 2^53+1. Both are JSON numbers, so
// their digits are bounded by the document; a huge exponent is compared as
// an integer, never expanded.
func numbersEqual(a, b string) bool {
	na, okA := decimal(a)
	nb, okB := decimal(b)
	return okA && okB && na == nb
}

// decimalValue is a number as sign, significant digits (no leading or
// trailing zeros) and exponent: value = digits × 10^exp. Equal values have
// equal decimalValues.
type decimalValue struct {
	neg    bool
	digits string
	exp    int64
}

// decimal normalizes a JSON number without expanding its exponent; ok is
// false for text that is not a number or an exponent beyond int64.
func decimal(s string) (decimalValue, bool) {
	var d decimalValue
	if strings.HasPrefix(s, "-") {
		d.neg = true
		s = s[1:]
	}
	mant, exp := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], strings.TrimPrefix(s[i+1:], "+")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return d, false
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return d, false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if strings.Trim(digits, "0123456789") != "" {
		return d, false
	}
	trimmed := strings.TrimRight(digits, "0")
	zeros := int64(len(digits) - len(trimmed))
	if digits == "" {
		return decimalValue{}, true // zero, whatever its sign
	}
	// e - len(frac) + zeros, refusing overflow rather than wrapping.
	adj := zeros - int64(len(frac))
	if (adj > 0 && e > (1<<63-1)-adj) || (adj < 0 && e < (-1<<63)-adj) {
		return d, false
	}
	d.digits, d.exp = trimmed, e+adj
	return d, true
}

// DeepCopy copies a tree of JSON values.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = DeepCopy(e)
		}
		return s
	default:
		return v
	}
}

// KindOf names a JSON value's type for messages.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Describe renders a value for a message: strings quoted, numbers as
// written, anything else by its type.
func Describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	default:
		return KindOf(v)
	}
}

// Preview renders a value as compact JSON for a message, cut after about
// maxPreview bytes.
func Preview(v any) string {
	var b strings.Builder
	preview(&b, v)
	if b.Len() > maxPreview {
		cut := maxPreview
		for cut > 0 && !utf8.RuneStart(b.String()[cut]) {
			cut--
		}
		return b.String()[:cut] + "..."
	}
	return b.String()
}

func preview(b *strings.Builder, v any) {
	if b.Len() > maxPreview {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if b.Len() > maxPreview {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quotePreview(k))
			b.WriteByte(':')
			preview(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if b.Len() > maxPreview {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			preview(b, e)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(quotePreview(x))
	case json.Number:
		b.WriteString(string(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	default:
		b.WriteString(KindOf(v))
	}
}

// quotePreview quotes at most a preview's worth of a string.
func quotePreview(s string) string {
	if len(s) > maxPreview {
		s = s[:maxPreview]
	}
	return strconv.Quote(s)
}
