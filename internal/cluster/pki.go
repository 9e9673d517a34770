package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"flinkgate.io/flinkgate/certs"
)

// certValidity is long enough for any test run or demo session and short
// enough that a forgotten file is useless soon.
const certValidity = 24 * time.Hour

// newServiceAccountKey returns the private and public PEM of a key the API
// server signs ServiceAccount tokens with.
func newServiceAccountKey() (private, public []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate service account key: %w", err)
	}
	if private, err = certs.PrivateKeyPEM(key); err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal service account public key: %w", err)
	}
	return private, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// writeFiles writes name -> content into dir, private to the current user
// because some of the files are keys.
func writeFiles(dir string, files map[string][]byte) error {
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// WebhookClientName is the common name of the certificate the API server
// presents to webhooks.
const WebhookClientName = "kube-apiserver-webhook-client"

// The API server's identity towards webhooks: its own CA (not the cluster's,
// which also signs users' client certificates, so trusting it would admit
// any user), and the AdmissionConfiguration that presents the certificate
// to every webhook ("*").
const (
	admissionConfigFile     = "admission-config.yaml"
	webhookClientCAFile     = "webhook-client-ca.crt"
	webhookClientKubeconfig = "webhook-client.kubeconfig"
	webhookClientCertFile   = "webhook-client.crt"
	webhookClientKeyFile    = "webhook-client.key"
	admissionConfigTemplate = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
`
	webhookKubeconfigTemplate = `apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: %q
    client-key: %q
`
)

// webhookClientFiles makes the webhook client CA and certificate and the
// files that give them to the API server.
func webhookClientFiles(dir string) (map[string][]byte, error) {
	ca, err := certs.NewCA("flinkgate-e2e-webhook-client-ca", certValidity)
	if err != nil {
		return nil, err
	}
	client, err := ca.Client(WebhookClientName, nil, certValidity)
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, webhookClientKubeconfig)
	return map[string][]byte{
		webhookClientCAFile:     ca.CertPEM,
		webhookClientCertFile:   client.CertPEM,
		webhookClientKeyFile:    client.KeyPEM,
		webhookClientKubeconfig: fmt.Appendf(nil, webhookKubeconfigTemplate, filepath.Join(dir, webhookClientCertFile), filepath.Join(dir, webhookClientKeyFile)),
		admissionConfigFile:     fmt.Appendf(nil, admissionConfigTemplate, kubeconfig),
	}, nil
}

// WebhookClientCAFile is the CA that signed the certificate the API server
// presents to webhooks, for flinkgate's --webhook-client-ca-file.
func (c *Cluster) WebhookClientCAFile() string { return filepath.Join(c.Dir, webhookClientCAFile) }

// WebhookClientCertFiles are the certificate and key the API server presents
// to webhooks, for tests that call flinkgate as the API server would.
func (c *Cluster) WebhookClientCertFiles() (cert, key string) {
	return filepath.Join(c.Dir, webhookClientCertFile), filepath.Join(c.Dir, webhookClientKeyFile)
}
