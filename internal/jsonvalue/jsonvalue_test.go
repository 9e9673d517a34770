package jsonvalue

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
)

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

func TestEqualNumbers(t *testing.T) {
	cases := []struct {
		name string
		a, b string
		want bool
	}{
		{"2^53 and 2^53+1 differ", "9007199254740992", "9007199254740993", false},
		{"1 equals 1.0", "1", "1.0", true},
		{"1 equals 1e0 and 10e-1", "10e-1", "1e0", true},
		{"0 equals -0", "0", "-0.0", true},
		{"a sign makes a difference", "1", "-1", false},
		{"huge exponents compare without being expanded", "1e999999999999", "10e999999999998", true},
		{"huge exponents that differ are unequal", "1e999999999999", "1e999999999998", false},
		{"trailing zeros of the fraction do not matter", "1.2500", "1.25", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Equal(json.Number(tc.a), json.Number(tc.b)); got != tc.want {
				t.Errorf("Equal(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}

func TestParsePointer(t *testing.T) {
	cases := []struct {
		name, pointer string
		want          []string
		wantErr       bool
	}{
		{name: "The empty pointer is the whole document.", pointer: "", want: nil},
		{name: "A pointer splits at slashes.", pointer: "/spec/template", want: []string{"spec", "template"}},
		{name: "~1 is a slash and ~0 a tilde, ~01 being a tilde followed by 1.", pointer: "/a~1b/~01", want: []string{"a/b", "~1"}},
		{name: "A pointer that does not start with a slash is refused.", pointer: "spec", wantErr: true},
		{name: "A tilde followed by anything but 0 or 1 is refused.", pointer: "/a~2", wantErr: true},
		{name: "A tilde at the end of a token is refused.", pointer: "/a~", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePointer(tc.pointer)
			if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
				t.Errorf("ParsePointer(%q) = %q, %v; want %q, error %v", tc.pointer, got, err, tc.want, tc.wantErr)
			}
			if err == nil && Pointer(got) != tc.pointer {
				t.Errorf("Pointer(ParsePointer(%q)) = %q", tc.pointer, Pointer(got))
			}
		})
	}
}

func TestMessagesNameValues(t *testing.T) {
	long := strings.Repeat("é", maxPreview) // two bytes a rune
	cases := []struct {
		name                    string
		v                       any
		kind, describe, preview string
	}{
		{"Null is named null.", nil, "null", "null", "null"},
		{"A mapping is previewed with sorted keys.", map[string]any{"b": json.Number("1"), "a": true}, "a mapping", "a mapping", `{"a":true,"b":1}`},
		{"A list is previewed compactly.", []any{"x", nil}, "a list", "a list", `["x",null]`},
		{"A string is described quoted.", "x", "a string", `"x"`, `"x"`},
		{"A number is described as written.", json.Number("1.50"), "a number", "1.50", "1.50"},
		{"A long string's preview is cut at a rune boundary after about maxPreview bytes.", long, "a string", strconv.Quote(long), `"` + strings.Repeat("é", maxPreview/2-1) + "..."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.v); got != tc.kind {
				t.Errorf("KindOf = %q, want %q", got, tc.kind)
			}
			if got := Describe(tc.v); got != tc.describe {
				t.Errorf("Describe = %q, want %q", got, tc.describe)
			}
			if got := Preview(tc.v); got != tc.preview {
				t.Errorf("Preview = %q, want %q", got, tc.preview)
			}
		})
	}
}
