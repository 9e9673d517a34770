package cluster

// Identities other than admin: ServiceAccount tokens and kubeconfigs for them.

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ServiceAccountToken returns a token for an existing ServiceAccount from
// the TokenRequest API. The API server accepts a ttl of ten minutes or
// more; zero means its default (one hour).
func (c *Cluster) ServiceAccountToken(ctx context.Context, namespace, name string, ttl time.Duration) (string, error) {
	req := &authenticationv1.TokenRequest{}
	if ttl > 0 {
		req.Spec.ExpirationSeconds = new(int64(ttl / time.Second))
	}
	resp, err := c.client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for service account %s/%s: %w", namespace, name, err)
	}
	return resp.Status.Token, nil
}

// KubeconfigFor writes a kubeconfig that authenticates with token, and
// returns its path.
func (c *Cluster) KubeconfigFor(token string) (string, error) {
	c.mu.Lock()
	c.tokens++
	path := filepath.Join(c.Dir, fmt.Sprintf("kubeconfig-token-%d", c.tokens))
	c.mu.Unlock()
	if err := writeKubeconfig(path, c.Server, c.restConfig.CAData, &clientcmdapi.AuthInfo{Token: token}); err != nil {
		return "", err
	}
	return path, nil
}

// writeKubeconfig writes a self-contained kubeconfig (no file references),
// so it keeps working when copied.
func writeKubeconfig(path, server string, caPEM []byte, user *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["flinkgate-e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = user
	cfg.Contexts["flinkgate-e2e"] = &clientcmdapi.Context{Cluster: "flinkgate-e2e", AuthInfo: "user"}
	cfg.CurrentContext = "flinkgate-e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
