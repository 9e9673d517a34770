package codec

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// adversarialYAML are document shapes an attacker might use to make the
// direct reader, or go-yaml after it, cost more than linear time: long
// lines, long numbers, long keys, deep indentation, many keys, and a
// document the direct reader gives up on only at its last line.
var adversarialYAML = []struct {
	name string
	doc  func(n int) string
}{
	{"a long plain value", func(n int) string { return "a: " + strings.Repeat("x", n) + "\n" }},
	{"a long decimal number", func(n int) string { return "a: " + strings.Repeat("1", n) + "\n" }},
	{"a long float starting with a dot", func(n int) string { return "a: ." + strings.Repeat("5", n) + "\n" }},
	{"a long number of underscores", func(n int) string { return "a: 1" + strings.Repeat("_", n) + "\n" }},
	{"a long quoted string full of colons", func(n int) string { return "a: \"" + strings.Repeat("x: ", n/3) + "\"\n" }},
	{"a long value after a 999-byte key", func(n int) string { return strings.Repeat("k", 999) + ": " + strings.Repeat("v", n) + "\n" }},
	{"a deeply indented key", func(n int) string { return "a:\n" + strings.Repeat(" ", n) + "b: 1\n" }},
	{"many keys", func(n int) string { return manyKeys(n) }},
	{"many keys and a quoted key at the end", func(n int) string { return manyKeys(n) + "'q': 1\n" }},
	{"many list items", func(n int) string {
		return "a:\n" + strings.Repeat("- "+strings.Repeat("v", 60)+"\n", n/63)
	}},
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "k%d: %s\n", i, strings.Repeat("v", 40))
	}
	return b.String()
}

// BenchmarkReadAdversarialYAML reports the direct reader's and go-yaml's
// cost per byte (b.SetBytes) at 64 KiB and 512 KiB: the two sizes cost the
// same per byte when nothing is quadratic. Many keys stop at 512 KiB, where
// the entry bound (40 000 line breaks and indicators) is near.
func BenchmarkReadAdversarialYAML(b *testing.B) {
	for _, tc := range adversarialYAML {
		for _, n := range []int{64 << 10, 512 << 10} {
			raw := tc.doc(n)
			b.Run(fmt.Sprintf("%s/%dKiB/direct", tc.name, n>>10), func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				for range b.N {
					fastReadYAML(context.Background(), raw)
				}
			})
			b.Run(fmt.Sprintf("%s/%dKiB/go-yaml", tc.name, n>>10), func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				for range b.N {
					_, _ = parsed(raw)
				}
			})
		}
	}
}
