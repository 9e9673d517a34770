// Golden renders: the whole output of helm template for each TLS mode and
// feature, compared with testdata/ (run `go test ./charts -update` to rewrite).

package charts_test

import (
	"path/filepath"
	"regexp"
	"testing"

	"flinkgate.io/flinkgate/internal/golden"
)

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
			checkRender(t, tc.golden, out)
		})
	}
}

// checkRender compares a render with testdata/<file> (or rewrites it with
// -update), with certificate material redacted and Helm's versions' layout
// differences evened out.
func checkRender(t *testing.T, file, render string) {
	t.Helper()
	got := sameUnderEveryHelm(pemMaterial.ReplaceAllString(render, "REDACTED-PEM"))
	golden.Check(t, filepath.Join("testdata", file), []byte(got), "go test ./charts -update")
}
