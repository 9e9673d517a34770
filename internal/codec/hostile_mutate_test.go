package codec

import (
	"testing"
)

// TestResolvePlainIsResolveWordsOnEveryShortScalar compares resolvePlain's
// first-byte shortcut with resolveWords on every scalar of up to three
// bytes from an alphabet of the bytes YAML's words and numbers are made of
// (and a few that are not), and on every word behind every sign and case
// prefix: the existing comparison puts one byte before fixed rests, which
// leaves out "-.Inf", "+.nan" and the like.
func TestResolvePlainIsResolveWordsOnEveryShortScalar(t *testing.T) {
	const alphabet = "+-._:~<0189abefilnostuxyABEFILNOSTUXY \x00\xff"
	var scalars []string
	var walk func(prefix string, left int)
	walk = func(prefix string, left int) {
		scalars = append(scalars, prefix)
		if left == 0 {
			return
		}
		for i := 0; i < len(alphabet); i++ {
			walk(prefix+alphabet[i:i+1], left-1)
		}
	}
	walk("", 3)
	words := []string{"inf", "Inf", "INF", "iNF", "nan", "NaN", "NAN", "nAn", "null", "Null", "NULL", "true", "yes", "Yes", "no", "NO", "on", "off", "Off", "0x1F", "0o17", "0b101", "1_000", "1e3", "5", "5e", "0", "_"}
	for _, w := range words {
		for _, p := range []string{"", "+", "-", ".", "+.", "-.", "..", "~", "0", "0."} {
			scalars = append(scalars, p+w)
		}
	}
	for _, s := range scalars {
		gv, gk := resolvePlain(s)
		wv, wk := resolveWords(s)
		if gk != wk || gv != wv {
			t.Fatalf("resolvePlain(%q) = %v, %v; resolveWords says %v, %v", s, gv, gk, wv, wk)
		}
	}
	if len(scalars) < 60000 {
		t.Errorf("only %d scalars compared", len(scalars))
	}
}
