package wire

import (
	"fmt"
	"strings"
	"testing"
)

// adversarialReviews are reviews of about n bytes built to be slow to read:
// long strings of escapes, surrogates or invalid UTF-8, many keys, deep
// nesting, and bodies the fast reader gives up on only at their end.
func adversarialReviews(n int) []struct {
	name string
	body []byte
} {
	pre := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","resource":{"version":"v1","resource":"configmaps"},"object":`
	obj := func(o string) []byte { return []byte(pre + o + `}}`) }
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	list := func(format string) string {
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	nest := func(depth int) string {
		one := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		return strings.TrimSuffix(strings.Repeat(one+",", n/(len(one)+1)), ",")
	}
	return []struct {
		name string
		body []byte
	}{
		{"a long plain string", obj(`{"data":{"a":"` + rep("abcdefgh") + `"}}`)},
		{"a long string of escapes", obj(`{"data":{"a":"` + rep(`\u00e9`) + `"}}`)},
		{"a long string of surrogate pairs", obj(`{"data":{"a":"` + rep(`\ud83d\ude00`) + `"}}`)},
		{"a long string of lone surrogates", obj(`{"data":{"a":"` + rep(`\ud800`) + `"}}`)},
		{"a long string of invalid UTF-8", obj(`{"data":{"a":"` + rep("\xff") + `"}}`)},
		{"invalid UTF-8 at the end of a long string", obj(`{"data":{"a":"` + rep("abcdefgh") + "\xff" + `"}}`)},
		{"a trailing byte after a long review", append(obj(`{"data":{"a":"`+rep("abcdefgh")+`"}}`), 'x')},
		{"many data keys", obj(`{"data":{` + list(`"k%d":"v"`) + `}}`)},
		{"many escaped label keys", obj(`{"metadata":{"labels":{` + list(`"\u0061%d":"v"`) + `}}}`)},
		{"many unknown keys", obj(`{` + list(`"x%d":1`) + `}`)},
		{"many unknown keys and a re-cased field at the end", obj(`{` + list(`"x%d":1`) + `,"Data":{}}`)},
		{"many finalizers", obj(`{"metadata":{"finalizers":[` + list(`"f%d"`) + `]}}`)},
		{"many numbers", obj(`{"x":[` + list(`%d.5e-3`) + `]}`)},
		{"many nestings 60 deep", obj(`{"x":[` + nest(60) + `]}`)},
		{"many nestings 70 deep, beyond the fast reader", obj(`{"x":[` + nest(70) + `]}`)},
		{"many nestings 9000 deep, near encoding/json's bound", obj(`{"x":[` + nest(9000) + `]}`)},
		{"long base64 binary data", obj(`{"binaryData":{"b":"` + rep("aGVsbG8h") + `"}}`)},
	}
}

// BenchmarkDecodeAdversarialReview measures DecodeReview's cost per byte on
// adversarial reviews of 1 and 5 MiB: quadratic work would show as a cost
// per byte growing with the size.
func BenchmarkDecodeAdversarialReview(b *testing.B) {
	for _, size := range []int{1 << 20, 5 << 20} {
		for _, tc := range adversarialReviews(size) {
			b.Run(fmt.Sprintf("%s/%dMiB", tc.name, size>>20), func(b *testing.B) {
				b.SetBytes(int64(len(tc.body)))
				for b.Loop() {
					_, _ = DecodeReview(tc.body)
				}
			})
		}
	}
}
