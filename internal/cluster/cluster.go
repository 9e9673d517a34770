// This file is over 400 lines because it starts, configures and stops one control plane; the
// pieces share its state.

// Package cluster runs a throwaway Kubernetes control plane (etcd and
// kube-apiserver) and flinkgate as local processes, for end-to-end tests and
// the demo.
//
// The control plane has RBAC authorization, an admin kubeconfig that
// authenticates with a client certificate (system:masters), a ServiceAccount
// token signer and an audit log of ConfigMap requests. There is no
// controller-manager, scheduler or kubelet: objects are stored and admitted,
// nothing runs. Everything a Cluster starts is stopped by Stop, by an
// interrupt (SIGINT, SIGTERM), or, if the test binary dies, by the kernel.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"flinkgate.io/flinkgate/certs"
)

const (
	// tempDirPrefix is followed by the owner's pid, so that a later Start can
	// remove the directories of test binaries that died without cleaning up.
	tempDirPrefix = "flinkgate-cluster-"
	// startTimeout bounds each startup wait; kube-apiserver needs a few
	// seconds alone and much longer on a busy two-core machine.
	startTimeout = 3 * time.Minute
	etcdDataDir  = "etcd-data"
)

// Options configure Start.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kubectl and helm (hack/tools.sh).
	BinDir string
	// KubeVersion is the Kubernetes minor release ("1.30") whose
	// kube-apiserver and kubectl run, from BinDir/kube-<KubeVersion>
	// (`hack/tools.sh oldest` builds the oldest one the chart claims).
	// Empty means BinDir's own, the newest pinned release. Start checks that
	// the API server reports this version, so a wrong directory cannot pass
	// for it.
	KubeVersion string
	// Dir holds the cluster's state, certificates, kubeconfigs and logs. It
	// is created if missing and kept by Stop. Empty means a new temporary
	// directory that Stop removes.
	Dir string
	// Log receives progress messages; nil discards them.
	Log io.Writer
	// Node also runs a one-node cluster (node.go): containerd, kubelet,
	// kube-proxy, kube-controller-manager and kube-scheduler, so pods run.
	// It needs root (CheckNodeHost), the node binaries in BinDir
	// (`hack/tools.sh node`) and installs missing Debian packages.
	Node bool
	// Images are OCI image tarballs (ociimage) imported into the node's
	// containerd; pods use them with imagePullPolicy Never.
	Images []string
}

// Cluster is a running control plane. Its exported fields are read-only.
type Cluster struct {
	// Dir holds the cluster's files; each process logs to Dir/<name>.log
	// and records its pid in Dir/<name>.pid.
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (system:masters).
	Kubeconfig string
	// Server is the API server's URL.
	Server string
	// AuditLog is the path of the API server's audit log (JSON lines,
	// Metadata level, requests of ConfigMaps and of the Flink operator's
	// FlinkDeployments, not their status).
	AuditLog string
	// Version is the API server's version, as /version reports it
	// ("v1.30.14").
	Version string

	opts       Options
	kubeBinDir string // kube-apiserver and kubectl of opts.KubeVersion
	ownsDir    bool
	restConfig *rest.Config
	client     kubernetes.Interface

	mu         sync.Mutex
	stopped    bool
	procs      []*process // in start order
	flinkgates int        // number of StartFlinkgate calls, for unique names
	tokens     int        // number of KubeconfigFor calls, for unique names
	chartDir   string     // the embedded chart, written on first use
	node       *node      // with Options.Node

	stopOnce sync.Once
}

// Start starts etcd and kube-apiserver on free loopback ports and returns
// once the API server is ready. ctx bounds the startup only; the processes
// run until Stop. On error, everything already started is stopped and the
// error quotes the failing process's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	binDir, err := filepath.Abs(opts.BinDir)
	if err != nil {
		return nil, fmt.Errorf("resolve tools directory: %w", err)
	}
	opts.BinDir = binDir
	kubeBinDir, err := KubeBinDir(binDir, opts.KubeVersion)
	if err != nil {
		return nil, err
	}
	tools := []string{filepath.Join(binDir, "etcd"), filepath.Join(kubeBinDir, "kube-apiserver")}
	if opts.Node {
		// The node's binaries are the newest release's, and a kubelet must
		// not be newer than its API server.
		if opts.KubeVersion != "" {
			return nil, fmt.Errorf("a cluster with a node runs the newest Kubernetes only, not %s", opts.KubeVersion)
		}
		if err := CheckNodeHost(); err != nil {
			return nil, err
		}
		for _, tool := range []string{"kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
			tools = append(tools, filepath.Join(binDir, tool))
		}
	}
	for _, tool := range tools {
		if _, err := os.Stat(tool); err != nil {
			return nil, fmt.Errorf("find %s in the tools directory: %w", filepath.Base(tool), err)
		}
	}

	c := &Cluster{opts: opts, kubeBinDir: kubeBinDir}
	if opts.Dir == "" {
		removeStaleTempDirs()
		c.Dir, err = os.MkdirTemp("", tempDirPrefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		c.ownsDir = true
	} else {
		if c.Dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("resolve cluster directory: %w", err)
		}
		// Reusing etcd data under freshly generated certificates and keys
		// would half-work in confusing ways; a fresh directory is cheap.
		if _, err := os.Stat(filepath.Join(c.Dir, etcdDataDir)); err == nil {
			return nil, fmt.Errorf("directory %s holds a previous cluster; remove it first", c.Dir)
		}
		if err := os.MkdirAll(c.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	c.AuditLog = filepath.Join(c.Dir, "audit.log")
	track(c)

	started := time.Now()
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	c.logf("cluster ready at %s in %s (dir %s)", c.Server, time.Since(started).Round(time.Millisecond), c.Dir)
	return c, nil
}

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

// spawn starts a child process unless the cluster is already stopped, so
// that an interrupt during Start cannot race a process into existence after
// Stop has run.
func (c *Cluster) spawn(name, bin string, args ...string) (*process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster is stopped")
	}
	p, err := startProcess(c.Dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// Stop stops everything the cluster started (flinkgate, kube-apiserver,
// etcd, newest first) and removes the directory if Start created it. It is
// idempotent and safe to call concurrently; every call returns when
// everything is stopped.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		procs := c.procs
		c.mu.Unlock()
		// The node goes first, while the API server can still tell the
		// kubelet to stop the pods.
		if c.node != nil {
			c.stopNode()
		}
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		untrack(c)
		if c.ownsDir {
			if err := os.RemoveAll(c.Dir); err != nil {
				c.logf("remove cluster directory: %v", err)
			}
		}
		c.logf("cluster stopped")
	})
}

// RestConfig returns a copy of the admin client configuration.
func (c *Cluster) RestConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Client returns an admin clientset.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// KubeBinDir returns the directory of the kube-apiserver and kubectl of the
// given Kubernetes minor release under a tools directory (Options.KubeVersion):
// binDir itself for the newest (""), binDir/kube-<minor> for another.
func KubeBinDir(binDir, minor string) (string, error) {
	if minor == "" {
		return binDir, nil
	}
	if !kubeMinor.MatchString(minor) {
		return "", fmt.Errorf("kubernetes version %q is not a minor release like 1.30", minor)
	}
	return filepath.Join(binDir, "kube-"+minor), nil
}

var kubeMinor = regexp.MustCompile(`^1\.[0-9]{1,3}$`)

// Kubectl runs the pinned kubectl as admin. The error includes stderr.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.KubectlInput(ctx, "", args...)
}

// KubectlInput is Kubectl with stdin, for `kubectl apply -f -`.
func (c *Cluster) KubectlInput(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	return c.runTool(ctx, "kubectl", stdin, args)
}

// Helm runs the pinned helm as admin. The error includes stderr.
func (c *Cluster) Helm(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return c.runTool(ctx, "helm", "", args)
}

// HelmWith runs another pinned helm binary of the tools directory (helm3) the
// way Helm runs helm.
func (c *Cluster) HelmWith(ctx context.Context, tool string, args ...string) (stdout, stderr string, err error) {
	return c.runTool(ctx, tool, "", args)
}

func (c *Cluster) runTool(ctx context.Context, tool, stdin string, args []string) (string, string, error) {
	// Caches and configuration live in the cluster directory, so runs
	// neither read nor pollute the user's home, and a port reused by a
	// later cluster never meets a stale discovery cache.
	env := []string{
		"KUBECACHEDIR=" + filepath.Join(c.Dir, "kube-cache"),
		"HELM_CACHE_HOME=" + filepath.Join(c.Dir, "helm", "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(c.Dir, "helm", "config"),
		"HELM_DATA_HOME=" + filepath.Join(c.Dir, "helm", "data"),
	}
	// "--flag=value" before the subcommand, because a trailing flag would
	// land after a "--" in `kubectl exec ... -- cmd`.
	args = append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)
	bin := c.opts.BinDir
	if tool == "kubectl" {
		bin = c.kubeBinDir // kubectl supports API servers one minor apart only
	}
	return run(ctx, env, stdin, filepath.Join(bin, tool), args...)
}

// CreateNamespace creates a namespace with the given labels.
func (c *Cluster) CreateNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

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

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Log, "cluster: "+format+"\n", args...)
}
