package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"
)

func TestCASignsCertificatesThatChainToIt(t *testing.T) {
	ca, err := NewCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CertPEM holds no certificate")
	}
	serving := func(t *testing.T) *KeyPair {
		p, err := ca.Serving([]string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	client := func(t *testing.T) *KeyPair {
		p, err := ca.Client("admin", []string{"system:masters"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		pair func(t *testing.T) *KeyPair
		opts x509.VerifyOptions
		// wantErr: the certificate must not verify under opts.
		wantErr bool
		check   func(*x509.Certificate) string
	}{
		{
			name: "A serving certificate is valid for its IP address.",
			pair: serving,
			opts: x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"},
		},
		{
			name: "A serving certificate is valid for its DNS name.",
			pair: serving,
			opts: x509.VerifyOptions{Roots: roots, DNSName: "localhost"},
		},
		{
			name:    "A serving certificate is not valid for clients.",
			pair:    serving,
			opts:    x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			wantErr: true,
		},
		{
			name: "A client certificate names the user and its groups.",
			pair: client,
			opts: x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
			check: func(c *x509.Certificate) string {
				if c.Subject.CommonName != "admin" || !slices.Equal(c.Subject.Organization, []string{"system:masters"}) {
					return "subject is " + c.Subject.String()
				}
				return ""
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pair(t)
			pair, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
			if err != nil {
				t.Fatalf("certificate and key do not form a pair: %v", err)
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			_, err = leaf.Verify(tc.opts)
			switch {
			case tc.wantErr && err == nil:
				t.Fatal("verify succeeded, want an error")
			case tc.wantErr:
				return
			case err != nil:
				t.Fatalf("verify: %v", err)
			}
			if tc.check != nil {
				if problem := tc.check(leaf); problem != "" {
					t.Error(problem)
				}
			}
		})
	}
}

func TestACertificateIsValidFromAnHourAgoForItsValidity(t *testing.T) {
	before := time.Now()
	ca, err := NewCA("test-ca", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(ca.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.NotBefore.After(before.Add(-59 * time.Minute)) {
		t.Errorf("NotBefore %s is not backdated by an hour from %s", cert.NotBefore, before)
	}
	if d := cert.NotAfter.Sub(before); d < 24*time.Hour-time.Minute || d > 24*time.Hour+time.Minute {
		t.Errorf("NotAfter is %s after creation, want 24h", d)
	}
}
