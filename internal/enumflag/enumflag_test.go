package enumflag

import (
	"flag"
	"io"
	"testing"
)

type level string

const (
	enforce level = "enforce"
	warn    level = "warn"
	off     level = "off"
)

func parseLevel(s string) (level, error) { return Parse("test level", s, enforce, warn, off) }

// flagLevel is a flag.Value the way flinkgate's modes are.
type flagLevel level

func (l *flagLevel) String() string { return string(*l) }
func (l *flagLevel) Set(s string) error {
	return Set((*level)(l), s, parseLevel)
}

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		allowed []level
		want    level
		err     string
	}{
		{name: "A word of the set is accepted.", in: "warn", allowed: []level{enforce, warn, off}, want: warn},
		{name: "An unknown word is rejected, listing the set.", in: "bogus", allowed: []level{enforce, warn, off},
			err: `invalid test level "bogus": want enforce, warn or off`},
		{name: "An empty word is rejected rather than read as a default.", in: "", allowed: []level{enforce, warn, off},
			err: `invalid test level "": want enforce, warn or off`},
		{name: "A word in another case is rejected.", in: "Enforce", allowed: []level{enforce, warn, off},
			err: `invalid test level "Enforce": want enforce, warn or off`},
		{name: "A word with blanks around it is rejected.", in: " off", allowed: []level{enforce, warn, off},
			err: `invalid test level " off": want enforce, warn or off`},
		{name: "A set of two is listed with or alone.", in: "on", allowed: []level{enforce, off},
			err: `invalid test level "on": want enforce or off`},
		{name: "A set of one is listed as the word.", in: "on", allowed: []level{off},
			err: `invalid test level "on": want off`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("test level", tc.in, tc.allowed...)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tc.want || gotErr != tc.err {
				t.Errorf("Parse(%q) = %q, %q; want %q, %q", tc.in, got, gotErr, tc.want, tc.err)
			}
		})
	}
}

func TestSet(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		want    level
		wantErr bool
	}{
		{name: "A flag set to a word of the set holds it.", args: []string{"-level=warn"}, want: warn},
		{name: "A flag left unset keeps its default.", args: nil, want: enforce},
		{name: "A flag set to an unknown word fails to parse and keeps its default.", args: []string{"-level=bogus"}, want: enforce, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := flagLevel(enforce)
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Var(&l, "level", "a level")
			err := fs.Parse(tc.args)
			if (err != nil) != tc.wantErr || level(l) != tc.want {
				t.Errorf("parse %q: level %q, error %v; want %q, error %v", tc.args, l, err, tc.want, tc.wantErr)
			}
		})
	}
}
