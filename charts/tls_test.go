// The TLS modes: helm (generated), url (webhook.url), certManager and secret.

package charts_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestTLSModes checks each tls.mode (helm, certManager, secret) and webhook.url:
// where the certificate comes from, what it covers and which caBundle the
// webhooks carry.
func TestTLSModes(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "helm mode writes a kubernetes.io/tls Secret <fullname>-tls with tls.crt, tls.key and ca.crt.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				if s.Type != corev1.SecretTypeTLS {
					t.Errorf("type %s, want %s", s.Type, corev1.SecretTypeTLS)
				}
				var keys []string
				for k := range s.Data {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				if want := []string{"ca.crt", "tls.crt", "tls.key"}; !slices.Equal(keys, want) {
					t.Errorf("keys %q, want %q", keys, want)
				}
				if _, err := tlsKeyPair(s); err != nil {
					t.Errorf("tls.crt and tls.key do not form a key pair: %v", err)
				}
			},
		},
		{
			name:   "helm mode puts the Secret's CA into both webhooks' caBundle.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				for name, cc := range clientConfigs(t, m) {
					if len(cc.CABundle) == 0 || !bytes.Equal(cc.CABundle, s.Data["ca.crt"]) {
						t.Errorf("%s caBundle %q, want the Secret's ca.crt", name, cc.CABundle)
					}
				}
			},
		},
		{
			name:   "helm mode's certificate serves the Service's DNS name under the caBundle.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, fullname+"."+namespace+".svc")
			},
		},
		{
			name:   "url mode registers both webhooks at <url>/mutate and <url>/validate, without a trailing slash doubling.",
			values: func(*testing.T) string { return urlValues },
			check: func(t *testing.T, m manifest) {
				for name, path := range map[string]string{"mutating": "/mutate", "validating": "/validate"} {
					cc := clientConfigs(t, m)[name]
					if cc.Service != nil || cc.URL == nil || *cc.URL != "https://127.0.0.1:9443"+path {
						t.Errorf("%s clientConfig url %v service %+v, want url https://127.0.0.1:9443%s only", name, cc.URL, cc.Service, path)
					}
					if len(cc.CABundle) == 0 {
						t.Errorf("%s caBundle is empty", name)
					}
				}
			},
		},
		{
			name:   "url mode's certificate covers the URL's IP address as an IP SAN.",
			values: func(*testing.T) string { return urlValues },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "127.0.0.1")
				s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
				cert, _ := certChain(t, s.Data["tls.crt"], s.Data["ca.crt"])
				if !slices.ContainsFunc(cert.IPAddresses, func(ip net.IP) bool { return ip.String() == "127.0.0.1" }) {
					t.Errorf("IP SANs %v lack 127.0.0.1", cert.IPAddresses)
				}
			},
		},
		{
			name:   "url mode with an IPv6 host covers that address.",
			values: func(*testing.T) string { return "webhook:\n  url: https://[::1]:9443\n" },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "::1")
				if u := mutating(t, m).ClientConfig.URL; u == nil || *u != "https://[::1]:9443/mutate" {
					t.Errorf("url %v", u)
				}
			},
		},
		{
			name:   "url mode with a DNS host covers the name and still the Service.",
			values: func(*testing.T) string { return "webhook:\n  url: https://flinkgate.example.com:9443/\n" },
			check: func(t *testing.T, m manifest) {
				verifyServes(t, m, "flinkgate.example.com")
				verifyServes(t, m, fullname+"."+namespace+".svc")
			},
		},
		{
			name:   "certManager mode renders no Secret; the serving Certificate writes the Secret the pods mount.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("Secret")); n != 0 {
					t.Errorf("%d Secrets rendered; cert-manager owns the certificate", n)
				}
				c := untyped(t, m, "Certificate", namespace, fullname+"-tls")
				if got := field(t, c, "spec", "secretName"); got != tlsSecret {
					t.Errorf("Certificate secretName %v, want %s", got, tlsSecret)
				}
				wantTLSMount(t, m, tlsSecret)
			},
		},
		{
			name:   "certManager mode has cert-manager inject the serving Certificate's CA into both webhooks.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				if !m.has("Certificate", namespace, fullname+"-tls") {
					t.Fatal("the serving Certificate is not rendered")
				}
				for name, a := range webhookAnnotations(t, m) {
					if got, want := a["cert-manager.io/inject-ca-from"], namespace+"/"+fullname+"-tls"; got != want {
						t.Errorf("%s inject-ca-from %q, want %q", name, got, want)
					}
				}
				// The cainjector owns caBundle here; rendering one would fight it on every upgrade.
				for name, cc := range clientConfigs(t, m) {
					if len(cc.CABundle) != 0 {
						t.Errorf("%s caBundle is rendered; it must be left to cert-manager", name)
					}
				}
			},
		},
		{
			name:   "certManager mode signs the serving certificate with a chart-owned CA issuer, not self-signed.",
			values: func(*testing.T) string { return certManagerValues },
			check: func(t *testing.T, m manifest) {
				ref := field(t, untyped(t, m, "Certificate", namespace, fullname+"-tls"), "spec", "issuerRef").(map[string]any)
				if ref["name"] != fullname+"-ca" || ref["kind"] != "Issuer" {
					t.Errorf("serving Certificate issuerRef %v, want the Issuer %s-ca", ref, fullname)
				}
				if got := field(t, untyped(t, m, "Issuer", namespace, fullname+"-ca"), "spec", "ca", "secretName"); got != fullname+"-ca" {
					t.Errorf("CA Issuer reads %v", got)
				}
				if got := field(t, untyped(t, m, "Certificate", namespace, fullname+"-ca"), "spec", "isCA"); got != true {
					t.Errorf("CA Certificate isCA %v", got)
				}
			},
		},
		{
			name: "certManager mode with webhook.url covers the URL's IP in the Certificate.",
			values: func(*testing.T) string {
				return certManagerValues + urlValues
			},
			check: func(t *testing.T, m manifest) {
				c := untyped(t, m, "Certificate", namespace, fullname+"-tls")
				if ips, _ := field(t, c, "spec", "ipAddresses").([]any); !slices.Contains(ips, any("127.0.0.1")) {
					t.Errorf("ipAddresses %v lack 127.0.0.1", ips)
				}
				if dns, _ := field(t, c, "spec", "dnsNames").([]any); !slices.Contains(dns, any(fullname+"."+namespace+".svc")) {
					t.Errorf("dnsNames %v lack the Service", dns)
				}
			},
		},
		{
			name: "certManager mode with issuerRef uses that issuer and renders no CA chain.",
			values: func(*testing.T) string {
				return "tls:\n  mode: certManager\n  certManager:\n    issuerRef: {name: corp-ca, kind: ClusterIssuer}\n"
			},
			check: func(t *testing.T, m manifest) {
				ref := field(t, untyped(t, m, "Certificate", namespace, fullname+"-tls"), "spec", "issuerRef").(map[string]any)
				if ref["name"] != "corp-ca" || ref["kind"] != "ClusterIssuer" || ref["group"] != "cert-manager.io" {
					t.Errorf("issuerRef %v", ref)
				}
				if n := len(m.ofKind("Issuer")) + len(m.ofKind("Certificate")); n != 1 {
					t.Errorf("%d cert-manager objects, want only the serving Certificate", n)
				}
			},
		},
		{
			name:   "secret mode mounts tls.secretName, puts tls.caBundle into both webhooks and renders no Secret.",
			values: secretModeValues,
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("Secret")); n != 0 {
					t.Errorf("%d Secrets rendered", n)
				}
				wantTLSMount(t, m, "my-webhook-tls")
				ca, err := testCABundle()
				if err != nil {
					t.Fatal(err)
				}
				for name, cc := range clientConfigs(t, m) {
					if base64.StdEncoding.EncodeToString(cc.CABundle) != ca {
						t.Errorf("%s caBundle is not tls.caBundle", name)
					}
				}
			},
		},
	})
}

// certChain returns the serving certificate of a Secret and a pool of the CAs in caBundle.
func certChain(t *testing.T, crtPEM, caBundle []byte) (*x509.Certificate, *x509.CertPool) {
	t.Helper()
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatalf("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse tls.crt: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatalf("caBundle holds no PEM certificate")
	}
	return cert, pool
}

// verifyServes checks that the helm-mode certificate is one the API server
// accepts for host, trusting only the webhooks' caBundle.
func verifyServes(t *testing.T, m manifest, host string) {
	t.Helper()
	s := get[corev1.Secret](t, m, "Secret", namespace, tlsSecret)
	for name, cc := range clientConfigs(t, m) {
		cert, pool := certChain(t, s.Data["tls.crt"], cc.CABundle)
		_, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("%s webhook: the certificate does not serve %s under its caBundle: %v", name, host, err)
		}
	}
}

func wantTLSMount(t *testing.T, m manifest, secret string) {
	t.Helper()
	spec := deployment(t, m).Spec.Template.Spec
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
	if i < 0 {
		t.Fatal("no Secret volume")
	}
	vol := spec.Volumes[i]
	if vol.Secret.SecretName != secret {
		t.Errorf("the pods mount the Secret %s, want %s", vol.Secret.SecretName, secret)
	}
	c := container(t, m)
	j := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == vol.Name })
	if j < 0 {
		t.Fatal("the TLS volume is not mounted")
	}
	vm := c.VolumeMounts[j]
	if vm.SubPath != "" || vm.SubPathExpr != "" || vm.MountPath != "/etc/flinkgate/tls" || !vm.ReadOnly {
		t.Errorf("mount %+v, want a read-only directory mount at /etc/flinkgate/tls", vm)
	}
}

func tlsKeyPair(s *corev1.Secret) (*x509.Certificate, error) {
	block, _ := pem.Decode(s.Data["tls.key"])
	if block == nil {
		return nil, errors.New("tls.key is not PEM")
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse tls.key: %w", err)
	}
	cb, _ := pem.Decode(s.Data["tls.crt"])
	if cb == nil {
		return nil, errors.New("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse tls.crt: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("tls.key does not belong to tls.crt")
	}
	return cert, nil
}
