package resource

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestDNS1123LabelCheckIsTheLibrarys holds the hand-written check to
// validation.IsDNS1123Label, on a table of edge cases and on random names
// from an alphabet of the characters that matter.
func TestDNS1123LabelCheckIsTheLibrarys(t *testing.T) {
	names := []string{"", "a", "0", "-", "a-", "-a", "a-b", "a--b", "A", "aB", "a.b", "a_b", "a b", "é", "a\n",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("1", 63) + "-", "staging", "top-speed-windowing"}
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := "az09-A.Z_ \x00\xff"
	for range 20000 {
		b := make([]byte, rng.IntN(66))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
			if rng.IntN(12) > 0 {
				b[i] = "ab9-"[rng.IntN(4)]
			}
		}
		names = append(names, string(b))
	}
	valid := 0
	for _, s := range names {
		want := validation.IsDNS1123Label(s)
		if got := dns1123LabelErrors(s); len(got) != len(want) || strings.Join(got, ";") != strings.Join(want, ";") {
			t.Fatalf("%q: got %q, the library says %q", s, got, want)
		}
		if len(want) == 0 {
			valid++
		}
	}
	if valid < 1000 {
		t.Errorf("only %d valid names among %d; the comparison says little", valid, len(names))
	}
}

// TestDigestIsTheSHA256OfUIDAndData holds Digest to its definition: the
// SHA-256 of the target's UID and the data, each followed by a zero byte.
func TestDigestIsTheSHA256OfUIDAndData(t *testing.T) {
	cases := []struct{ name, uid, data string }{
		{"an empty UID and empty data have a digest", "", ""},
		{"a UID and a document have the digest of both", "9e8d7c6b-5a4f", "kind: Deployment\nspec: {}\n"},
		{"the zero byte after the UID keeps UID and data apart", "ab", "c"},
		{"data longer than a hash block is hashed whole", "u", strings.Repeat("xyz\n", 1000)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(tc.uid+"\x00"+tc.data+"\x00")))
			if got := Digest(&Target{UID: tc.uid}, tc.data); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	if Digest(&Target{UID: "ab"}, "c") == Digest(&Target{UID: "a"}, "bc") {
		t.Error("moving a byte from the UID to the data kept the digest")
	}
}
