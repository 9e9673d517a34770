package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, seen from this package.
const root = ".."

// pages are the Markdown files whose links are checked, relative to root.
func pages(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"README.md", "charts/flinkgate/README.md", "testdata/hostile/README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

var (
	fence   = regexp.MustCompile("^\\s*(```|~~~)")
	heading = regexp.MustCompile(`^#{1,6} (.+?)\s*#*$`)
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// docRef is a pointer into the docs from Go code, e.g. a denial's
	// "docs/security.md#bounds".
	docRef = regexp.MustCompile(`docs/[a-z0-9-]+\.md#[a-z0-9-]+`)
)

// prose returns the lines of a Markdown file with those of fenced code
// blocks blanked, so a "# comment" in a shell block is no heading and line
// numbers stay the file's.
func prose(doc string) []string {
	lines := strings.Split(doc, "\n")
	in := false
	for i, l := range lines {
		if fence.MatchString(l) {
			in = !in
			lines[i] = ""
		} else if in {
			lines[i] = ""
		}
	}
	return lines
}

// anchor is the id GitHub gives a heading: lower case, punctuation other
// than hyphens and underscores dropped, spaces as hyphens.
func anchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors lists a Markdown file's heading ids, numbering repeats as GitHub
// does (-1, -2, ...).
func anchors(doc string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, l := range prose(doc) {
		m := heading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		id := anchor(m[1])
		if n := seen[id]; n > 0 {
			ids[id+"-"+itoa(n)] = true
		} else {
			ids[id] = true
		}
		seen[id]++
	}
	return ids
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + itoa(n%10)
}

// resolve checks that target, a link from the file at from (both relative
// to root), names an existing file and, with a fragment, a heading in it.
func resolve(from, target string) (problem string) {
	path, frag, _ := strings.Cut(target, "#")
	file := from
	if path != "" {
		file = filepath.ToSlash(filepath.Join(filepath.Dir(from), path))
	}
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		if st, dirErr := os.Stat(filepath.Join(root, file)); dirErr == nil && st.IsDir() && frag == "" {
			return ""
		}
		return "no file " + file
	}
	if frag == "" {
		return ""
	}
	if !strings.HasSuffix(file, ".md") {
		return "a fragment into " + file + ", which is no Markdown page"
	}
	if !anchors(string(b))[frag] {
		return "no heading #" + frag + " in " + file
	}
	return ""
}

func TestEveryRelativeLinkLeadsSomewhere(t *testing.T) {
	for _, page := range pages(t) {
		b, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range prose(string(b)) {
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				if p := resolve(page, target); p != "" {
					t.Errorf("%s:%d: link %s: %s", page, i+1, target, p)
				}
			}
		}
	}
}

// TestCodePointsAtHeadingsThatExist holds the code's pointers into the docs
// (a too_large denial's "docs/security.md#bounds") to the pages.
func TestCodePointsAtHeadingsThatExist(t *testing.T) {
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "tools" || d.Name() == "bin") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, ref := range docRef.FindAllString(string(b), -1) {
			found++
			if p := resolve("README.md", ref); p != "" {
				t.Errorf("%s points at %s: %s", path, ref, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Error("no Go file points into docs/; the too_large denials should (policy.BoundsDoc)")
	}
}

// TestTheREADMELinksEveryMovedSection keeps what left the README in issue
// 22 one click away from it.
func TestTheREADMELinksEveryMovedSection(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, target := range []string{
		"docs/user-guide.md#behaviour-the-contract-leaves-open",
		"docs/user-guide.md#deployment-updates-and-the-validating-check",
		"docs/user-guide.md#checking-manifests-before-applying-flinkgate-check",
		"docs/security.md#bounds",
		"docs/security.md#access-control",
		"docs/security.md#accepting-only-the-api-server",
		"docs/security.md#threat-model",
		"docs/operations.md#in-use-protection",
		"docs/operations.md#the-rbac-preflight",
		"docs/operations.md#gitops-and-helm-3",
		"docs/operations.md#health",
		"docs/operations.md#graceful-shutdown",
		"docs/operations.md#metrics-dashboard-and-alerts",
		"docs/metrics.md",
		"docs/performance.md",
		"docs/performance-history-2026.md",
		"docs/development.md",
		"docs/architecture.md",
		"charts/flinkgate/README.md",
	} {
		if !strings.Contains(readme, "]("+target+")") {
			t.Errorf("README.md does not link %s", target)
		}
	}
}

func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ name, heading, want string }{
		{"Words are lower-cased and joined by hyphens.", "Accepting only the API server", "accepting-only-the-api-server"},
		{"Code spans and a colon are dropped.", "Checking manifests before applying: `flinkgate check`", "checking-manifests-before-applying-flinkgate-check"},
		{"Commas and apostrophes are dropped, hyphens kept.", "Optimization round 3: the webhook's own path, the HTTP-layer", "optimization-round-3-the-webhooks-own-path-the-http-layer"},
		{"Parentheses are dropped.", "Hostile review of round 3 (branch `hostile-http`)", "hostile-review-of-round-3-branch-hostile-http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := anchor(tc.heading); got != tc.want {
				t.Errorf("anchor(%q) = %q, want %q", tc.heading, got, tc.want)
			}
		})
	}
}
