package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Bundle is a CA and a serving certificate it signed, PEM-encoded.
type Bundle struct {
	CACert, Cert, Key []byte
}

// Generate makes a new CA and a serving certificate for hosts (DNS names or
// IP addresses), valid for the given duration.
func Generate(hosts []string, validity time.Duration) (*Bundle, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts given; the certificate must name the webhook's host")
	}
	ca, err := NewCA("flinkgate-ca", validity)
	if err != nil {
		return nil, err
	}
	p, err := ca.Serving(hosts, validity)
	if err != nil {
		return nil, err
	}
	return &Bundle{CACert: ca.CertPEM, Cert: p.CertPEM, Key: p.KeyPEM}, nil
}

// CA is a self-signed certificate authority that signs serving and client
// certificates: the webhook's for local runs, and a local control plane's.
type CA struct {
	// CertPEM is the CA certificate, for trust bundles.
	CertPEM []byte
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
}

// KeyPair is a certificate and its private key (PKCS #8), PEM-encoded.
type KeyPair struct {
	CertPEM, KeyPEM []byte
}

// NewCA makes a new self-signed CA valid for the given duration.
func NewCA(commonName string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	tmpl := template(commonName, validity)
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse ca certificate: %w", err)
	}
	return &CA{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert: cert, key: key}, nil
}

// Serving signs a server certificate for hosts (DNS names or IP addresses);
// the first host is also its common name.
func (ca *CA) Serving(hosts []string, validity time.Duration) (*KeyPair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts given; a serving certificate must name its host")
	}
	tmpl := template(hosts[0], validity)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.sign(tmpl, "serving")
}

// Client signs a client certificate. Kubernetes takes the user name from the
// common name and the groups from the organizations.
func (ca *CA) Client(user string, groups []string, validity time.Duration) (*KeyPair, error) {
	tmpl := template(user, validity)
	tmpl.Subject.Organization = groups
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl, "client")
}

func (ca *CA) sign(tmpl *x509.Certificate, what string) (*KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", what, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("create %s certificate: %w", what, err)
	}
	keyPEM, err := PrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// template has what every certificate here needs. NotBefore lies an hour
// back, so that clock skew between processes does not make a fresh
// certificate "not yet valid".
func template(commonName string, validity time.Duration) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// PrivateKeyPEM encodes a private key as PKCS #8 PEM ("PRIVATE KEY").
func PrivateKeyPEM(key any) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteFiles writes ca.crt, tls.crt and tls.key (the names of a
// kubernetes.io/tls Secret) into dir. The key is written last, through a
// rename, so a reloader never pairs a new certificate with an old key for long.
func (b *Bundle) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{"ca.crt", b.CACert, 0o644}, {"tls.crt", b.Cert, 0o644}, {"tls.key", b.Key, 0o600}} {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("rename %s: %w", f.name, err)
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial is still valid.
		return big.NewInt(1)
	}
	return n
}
