package jsonvalue

import (
	"fmt"
	"strings"
)

// EscapeToken escapes one reference token for a JSON pointer (RFC 6901):
// ~ becomes ~0 and / becomes ~1.
func EscapeToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Pointer joins tokens into an escaped JSON pointer; the pointer to the
// whole document is "", which a message words for itself.
func Pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(EscapeToken(t))
	}
	return b.String()
}

// ParsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must be empty or start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		for j := 0; j < len(part); j++ {
			if part[j] == '~' && (j+1 >= len(part) || (part[j+1] != '0' && part[j+1] != '1')) {
				return nil, fmt.Errorf("%q has a ~ not followed by 0 or 1; write ~0 for ~ and ~1 for /", p)
			}
		}
		if strings.Contains(part, "~") {
			// ~1 first, so that "~01" becomes "~1" and not "/".
			parts[i] = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		}
	}
	return parts, nil
}
