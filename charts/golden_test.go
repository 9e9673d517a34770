// Golden renders: the whole output of helm template for each TLS mode and
// feature, compared with testdata/ (run `go test ./charts -update` to rewrite).

package charts_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current chart")

// pemMaterial matches certificates and keys, raw or base64-encoded (base64 of
// "-----BEGIN" starts with "LS0tLS1CRUdJTi"): helm mode generates them anew on
// every render, so golden files hold a placeholder instead.
var pemMaterial = regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/=]*|-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----`)

func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		name   string
		golden string
		values func(t *testing.T) string
	}{
		{"The default values render the webhook for the release namespace with Helm-generated TLS.", "defaults.yaml",
			noValues},
		{"additionalNamespaces={staging,production} adds a Role and RoleBinding in each.", "additional-namespaces.yaml",
			func(*testing.T) string { return additionalNamespacesValues }},
		{"tls.mode=certManager renders a CA chain and the serving Certificate instead of a Secret.", "cert-manager.yaml",
			func(*testing.T) string { return certManagerValues }},
		{"tls.mode=secret mounts the given Secret and renders no certificate material.", "secret.yaml", secretModeValues},
		{"webhook.url registers the webhooks at the URL instead of the Service.", "url.yaml",
			func(*testing.T) string { return urlValues }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.values(t))
			if err != nil {
				t.Fatal(err)
			}
			got := pemMaterial.ReplaceAllString(out, "REDACTED-PEM")
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatalf("update golden: %v", err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run `go test ./charts -update` to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("render differs from %s (run `go test ./charts -update` if the change is intended):\n%s",
					path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to find a golden change.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
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
