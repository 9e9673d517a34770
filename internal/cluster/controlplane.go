package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"flinkgate.io/flinkgate/certs"
)

// start brings up etcd and kube-apiserver with their certificates, flags
// and admin client, then the node if asked for one.
func (c *Cluster) start(ctx context.Context) error {
	ca, err := certs.NewCA("flinkgate-e2e-ca", certValidity)
	if err != nil {
		return err
	}
	hosts := []string{"127.0.0.1", "localhost"}
	var nodeIP net.IP
	if c.opts.Node {
		if err := ensureNodePackages(ctx, c.logf); err != nil {
			return err
		}
		if nodeIP, err = hostIP(); err != nil {
			return err
		}
		// Pods reach the API server at the "kubernetes" Service's ClusterIP.
		hosts = append(hosts, nodeIP.String(), kubernetesServiceIP,
			"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
	}
	serving, err := ca.Serving(hosts, certValidity)
	if err != nil {
		return err
	}
	admin, err := ca.Client("admin", []string{"system:masters"}, certValidity)
	if err != nil {
		return err
	}
	saKey, saPub, err := newServiceAccountKey()
	if err != nil {
		return err
	}
	webhookClient, err := webhookClientFiles(c.Dir)
	if err != nil {
		return err
	}
	if err := writeFiles(c.Dir, webhookClient); err != nil {
		return err
	}
	if err := writeFiles(c.Dir, map[string][]byte{
		"ca.crt":            ca.CertPEM,
		"apiserver.crt":     serving.CertPEM,
		"apiserver.key":     serving.KeyPEM,
		"sa.key":            saKey,
		"sa.pub":            saPub,
		"audit-policy.yaml": []byte(auditPolicy),
	}); err != nil {
		return err
	}
	ports, err := FreePorts(3)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	// os.Mkdir, not MkdirAll: if an interrupt already removed the directory,
	// this fails instead of quietly recreating it.
	if err := os.Mkdir(filepath.Join(c.Dir, etcdDataDir), 0o700); err != nil {
		return fmt.Errorf("create etcd data directory: %w", err)
	}
	t0 := time.Now()
	etcd, err := c.spawn("etcd", filepath.Join(c.opts.BinDir, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, etcdDataDir),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// A throwaway cluster needs no durability, and fsync is the
		// slowest part of etcd on a busy disk.
		"--unsafe-no-fsync",
		"--quota-backend-bytes="+strconv.Itoa(256<<20),
	)
	if err != nil {
		return err
	}
	if err := poll(ctx, startTimeout, "etcd", etcd, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, etcdURL+"/health")
	}); err != nil {
		return err
	}
	c.logf("etcd ready at %s in %s", etcdURL, time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	apiserverArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--tls-cert-file=" + filepath.Join(c.Dir, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(c.Dir, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(c.Dir, "ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(c.Dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(c.Dir, "sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--audit-policy-file=" + filepath.Join(c.Dir, "audit-policy.yaml"),
		"--audit-log-path=" + c.AuditLog,
		"--profiling=false",
		// The API server presents a client certificate to every webhook,
		// as a cluster that locks its webhooks to the API server does;
		// flinkgate checks it when started with WebhookClientCA.
		"--admission-control-config-file=" + filepath.Join(c.Dir, admissionConfigFile),
	}
	if c.opts.Node {
		kubeletClient, err := ca.Client("kube-apiserver-kubelet-client", nil, certValidity)
		if err != nil {
			return err
		}
		if err := writeFiles(c.Dir, map[string][]byte{"kubelet-client.crt": kubeletClient.CertPEM, "kubelet-client.key": kubeletClient.KeyPEM}); err != nil {
			return err
		}
		apiserverArgs = append(apiserverArgs,
			// Pods and the kubelet reach it at the node's address.
			"--bind-address=0.0.0.0",
			"--advertise-address="+nodeIP.String(),
			// The kubelet as system:node:<name>, as in a real cluster.
			"--authorization-mode=Node,RBAC",
			"--kubelet-client-certificate="+filepath.Join(c.Dir, "kubelet-client.crt"),
			"--kubelet-client-key="+filepath.Join(c.Dir, "kubelet-client.key"),
			// The node's name resolves nowhere; `kubectl logs` and `exec`
			// reach the kubelet at its address.
			"--kubelet-preferred-address-types=InternalIP",
		)
	} else {
		apiserverArgs = append(apiserverArgs,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--authorization-mode=RBAC",
			// Without a controller-manager nobody creates a namespace's
			// "default" ServiceAccount, which this plugin demands of every Pod.
			// The other default plugins (PodSecurity, NamespaceLifecycle, the
			// webhooks, ...) stay on so admission behaves like a real cluster.
			"--disable-admission-plugins=ServiceAccount",
			// The API server would publish its loopback address as the endpoint
			// of the "kubernetes" Service, which Endpoints validation rejects;
			// nothing in-cluster needs that Service here.
			"--endpoint-reconciler-type=none",
		)
	}
	apiserver, err := c.spawn("kube-apiserver", filepath.Join(c.kubeBinDir, "kube-apiserver"), apiserverArgs...)
	if err != nil {
		return err
	}

	c.restConfig = &rest.Config{
		Host: c.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ca.CertPEM,
			CertData: admin.CertPEM,
			KeyData:  admin.KeyPEM,
		},
		// Tests create objects in quick succession; the defaults (5/10)
		// would throttle them for no benefit against a private server.
		QPS:   100,
		Burst: 200,
	}
	httpClient, err := rest.HTTPClientFor(c.restConfig)
	if err != nil {
		return fmt.Errorf("build api server client: %w", err)
	}
	if c.client, err = kubernetes.NewForConfigAndClient(c.restConfig, httpClient); err != nil {
		return fmt.Errorf("build api server client: %w", err)
	}
	if err := poll(ctx, startTimeout, "kube-apiserver /readyz", apiserver, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, httpClient, c.Server+"/readyz")
	}); err != nil {
		return err
	}
	version, err := c.client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("ask kube-apiserver its version: %w", err)
	}
	c.Version = version.GitVersion
	if v := c.opts.KubeVersion; v != "" && !strings.HasPrefix(c.Version, "v"+v+".") {
		return fmt.Errorf("kube-apiserver of %s reports version %s, want %s.x", c.kubeBinDir, c.Version, v)
	}
	c.logf("kube-apiserver %s ready at %s in %s", c.Version, c.Server, time.Since(t0).Round(time.Millisecond))

	if err := writeKubeconfig(c.Kubeconfig, c.Server, ca.CertPEM, &clientcmdapi.AuthInfo{
		ClientCertificateData: admin.CertPEM,
		ClientKeyData:         admin.KeyPEM,
	}); err != nil {
		return err
	}
	if c.opts.Node {
		return c.startNode(ctx, ca, nodeIP)
	}
	return nil
}

// auditPolicy records who did what to ConfigMaps, with the webhooks' audit
// annotations, and to FlinkDeployments (who wrote a spec, impersonating
// whom; the status is the operator's and would flood the log), and nothing
// else, so the log stays small and readable.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources:
  - group: ""
    resources: [configmaps]
- level: Metadata
  resources:
  - group: flink.apache.org
    resources: [flinkdeployments]
- level: None
`

// httpOK reports whether GET url answers 200; any other answer is returned
// as the reason, so a timeout says what the server last said.
func httpOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return true, nil
}
