package resource

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestDNS1123LabelCheckIsTheLibrarysOnEveryShortName holds the hand-written
// label check to validation.IsDNS1123Label on every name of up to two
// bytes, on every name of up to four bytes from the characters that
// matter, and on names either side of the length limit ending in every
// byte: random names (the existing comparison) may miss a single byte.
func TestDNS1123LabelCheckIsTheLibrarysOnEveryShortName(t *testing.T) {
	var names []string
	for a := range 256 {
		names = append(names, string([]byte{byte(a)}))
		for b := range 256 {
			names = append(names, string([]byte{byte(a), byte(b)}))
		}
	}
	const alphabet = "az09-A.Z_`{/:@\x80"
	var walk func(prefix string, left int)
	walk = func(prefix string, left int) {
		if len(prefix) > 2 {
			names = append(names, prefix)
		}
		if left == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(prefix+alphabet[i:i+1], left-1)
		}
	}
	walk("", 4)
	for _, n := range []int{61, 62, 63} {
		for c := range 256 {
			names = append(names, strings.Repeat("a", n)+string([]byte{byte(c)}), string([]byte{byte(c)})+strings.Repeat("a", n))
		}
	}
	valid := 0
	for _, s := range names {
		want := validation.IsDNS1123Label(s)
		if got := dns1123LabelErrors(s); strings.Join(got, ";") != strings.Join(want, ";") {
			t.Fatalf("%q: got %q, the library says %q", s, got, want)
		}
		if isDNS1123Label(s) != (len(want) == 0) {
			t.Fatalf("%q: the hand-written check says %v, the library %q", s, isDNS1123Label(s), want)
		}
		if len(want) == 0 {
			valid++
		}
	}
	if valid < 1000 {
		t.Errorf("only %d valid names among %d; the comparison says little", valid, len(names))
	}
}
