// Package golden compares what a test produced with a file kept in the
// repository, and rewrites the file instead when the test runs with -update.
//
// A package whose tests import it gets the -update flag from here and must
// not declare its own.
package golden

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files from what the tests produce")

// Updating says whether this run rewrites golden files (-update).
func Updating() bool { return *update }

// wholeBelow is the size under which a failure shows the whole output, not
// only the first differing line.
const wholeBelow = 4 << 10

// Check compares got with the golden file at path. With -update it first
// writes got there (creating the folder), so the run passes and git shows
// the change for review. rerun is the command that rewrites the file; a
// failure names it.
func Check(t testing.TB, path string, got []byte, rerun string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update golden file: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run %s to create it): %v", rerun, err)
	}
	if string(got) == string(want) {
		return
	}
	msg := fmt.Sprintf("%s differs from what the test produced (run %s if the change is intended, and review the diff):\n%s", path, rerun, Diff(string(want), string(got)))
	if len(got) < wholeBelow && len(want) < wholeBelow {
		msg += fmt.Sprintf("\ngot:\n%s\nwant:\n%s", got, want)
	}
	t.Error(msg)
}

// Diff names the first line in which two texts differ, enough to find the
// change in a long render.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %q\n  got:  %q", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}
