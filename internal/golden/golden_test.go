package golden

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	cases := []struct {
		name, want, got, diff string
	}{
		{"The first differing line is named with both versions.", "a\nb\nc\n", "a\nB\nC\n", "line 2:\n  want: \"b\"\n  got:  \"B\""},
		{"A line missing at the end counts as empty.", "a\nb", "a", "line 2:\n  want: \"b\"\n  got:  \"\""},
		{"Equal texts have no differing line.", "a\n", "a\n", "(no line differs)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(tc.want, tc.got); got != tc.diff {
				t.Errorf("Diff = %q, want %q", got, tc.diff)
			}
		})
	}
}

// recorder keeps what Check reports instead of failing the test around it.
type recorder struct {
	testing.TB
	errors, fatals []string
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	for _, a := range args {
		r.errors = append(r.errors, a.(string))
	}
}

// Fatalf records the failure and stops Check, as testing.T's would.
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatals = append(r.fatals, format)
	panic(errFatal)
}

var errFatal = errors.New("fatal")

// check runs Check, stopping where a fatal failure would.
func (r *recorder) check(path string, got []byte) {
	defer func() {
		if p := recover(); p != nil && p != errFatal {
			panic(p)
		}
	}()
	Check(r, path, got, "go test ./p -update")
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name     string
		file     string // the golden file's content; "" means no file
		got      string
		updating bool
		wantErr  string // a part of the error reported; "" means none
		wantFile string // the file afterwards
		fatal    bool
	}{
		{name: "Output equal to the golden file passes.", file: "x\n", got: "x\n", wantFile: "x\n"},
		{name: "Different output fails, naming the line and the command that rewrites the file.", file: "x\n", got: "y\n",
			wantErr: "run go test ./p -update", wantFile: "x\n"},
		{name: "A missing golden file is fatal.", got: "y\n", fatal: true},
		{name: "With -update different output rewrites the file and passes.", file: "x\n", got: "y\n", updating: true, wantFile: "y\n"},
		{name: "With -update a missing golden file is created.", got: "y\n", updating: true, wantFile: "y\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "golden.txt")
			if tc.file != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			defer func(was bool) { *update = was }(*update)
			*update = tc.updating
			r := &recorder{TB: t}
			r.check(path, []byte(tc.got))
			if fatal := len(r.fatals) > 0; fatal != tc.fatal {
				t.Errorf("fatal = %v (%q), want %v", fatal, r.fatals, tc.fatal)
			}
			switch {
			case tc.wantErr == "" && len(r.errors) > 0:
				t.Errorf("unexpected error %q", r.errors)
			case tc.wantErr != "" && (len(r.errors) != 1 || !strings.Contains(r.errors[0], tc.wantErr)):
				t.Errorf("errors %q, want one containing %q", r.errors, tc.wantErr)
			}
			if tc.fatal {
				return
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != tc.wantFile {
				t.Errorf("the file holds %q (%v), want %q", b, err, tc.wantFile)
			}
		})
	}
}
