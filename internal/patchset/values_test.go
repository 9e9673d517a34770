package patchset

import "testing"

func TestPointer(t *testing.T) {
	cases := []struct {
		name, want string
		tokens     []string
	}{
		{"The whole document is the empty pointer.", "", nil},
		{"Tokens are joined with slashes.", "/spec/template", []string{"spec", "template"}},
		{"A slash and a tilde in a token are escaped as ~1 and ~0.", "/spec/a~1b~0c", []string{"spec", "a/b~c"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Pointer(tc.tokens); got != tc.want {
				t.Errorf("Pointer(%q) = %q, want %q", tc.tokens, got, tc.want)
			}
		})
	}
}
