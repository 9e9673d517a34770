// Package enumflag reads a setting whose value is one word of a fixed set
// (off, warn, enforce, …) strictly: no trimming or case folding, so a typo
// in a flag or chart value fails at start-up instead of weakening a check.
package enumflag

import (
	"fmt"
	"strings"
)

// Parse returns s as a T if it is one of allowed, spelled exactly; what
// names the setting in the error, which lists the allowed words.
func Parse[T ~string](what, s string, allowed ...T) (T, error) {
	for _, a := range allowed {
		if s == string(a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("invalid %s %q: want %s", what, s, list(allowed))
}

// Set parses s and stores it in *p, leaving *p as it was on an error: the
// body of a flag.Value's Set method.
func Set[T ~string](p *T, s string, parse func(string) (T, error)) error {
	v, err := parse(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// list words a choice the way a person would: "a", "a or b", "a, b or c".
func list[T ~string](words []T) string {
	if len(words) == 0 {
		return "nothing"
	}
	s := make([]string, len(words))
	for i, w := range words {
		s[i] = string(w)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
