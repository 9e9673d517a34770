package resource

import (
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
