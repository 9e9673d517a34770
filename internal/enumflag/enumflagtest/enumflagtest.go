// Package enumflagtest checks that a one-word setting's parser accepts
// exactly its words, so each setting's test lists only its words.
package enumflagtest

import (
	"strings"
	"testing"
)

// Words runs one subtest per accepted word (each parses to itself) and one
// per refusal a strict parser must make: another case, surrounding space,
// the empty string and an unknown word. A refusal's error must list every
// accepted word, so the operator can correct the typo.
func Words[T ~string](t *testing.T, parse func(string) (T, error), accepted ...T) {
	t.Helper()
	for _, w := range accepted {
		t.Run(string(w)+" is accepted.", func(t *testing.T) {
			got, err := parse(string(w))
			if err != nil || got != w {
				t.Errorf("parse(%q) = %q, %v; want %q", w, got, err, w)
			}
		})
	}
	first := string(accepted[0])
	refused := []struct{ name, in string }{
		{"A word in another case is rejected.", strings.ToUpper(first)},
		{"A word with surrounding space is rejected.", " " + first},
		{"An empty word is rejected rather than read as a default.", ""},
		{"An unknown word is rejected.", "bogus"},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			got, err := parse(r.in)
			if err == nil {
				t.Fatalf("parse(%q) = %q, want an error", r.in, got)
			}
			for _, w := range accepted {
				if !strings.Contains(err.Error(), string(w)) {
					t.Errorf("error %q does not list %q", err, w)
				}
			}
		})
	}
}
