package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/ociimage"
)

// The node (Options.Node): containerd, kubelet, kube-proxy,
// kube-controller-manager and kube-scheduler next to the control plane, so
// the chart's pods really run. It needs root and changes the host where a
// kubelet must: a bridge, iptables rules, cgroups, mounts and the
// ip_forward sysctl. containerd has its own root, state and socket in the
// cluster directory, so a containerd the machine already runs is untouched.
const (
	// NodeName is the node's name.
	NodeName = "flinkgate-node"
	// PauseImage is the sandbox image the node builds and imports.
	PauseImage = "flinkgate.local/pause:e2e"
	// bridgeName is the CNI bridge; teardown deletes it.
	bridgeName = "fgnode0"
	podSubnet  = "10.244.0.0/24"
	// serviceCIDR holds the Services' ClusterIPs; its first address is the
	// API server's "kubernetes" Service, which pods use in-cluster.
	serviceCIDR         = "10.96.0.0/24"
	kubernetesServiceIP = "10.96.0.1"
	// nodeDir is the node's subdirectory of the cluster directory.
	nodeDir = "node"
)

// nodePackages are the Debian packages that provide the node's runtime; the
// binary each must put on PATH says whether it is installed.
var nodePackages = []struct{ pkg, binary string }{
	{"containerd", "containerd"},
	{"runc", "runc"},
	{"containernetworking-plugins", "/usr/lib/cni/bridge"},
	{"iptables", "iptables"},
}

// NodeSkipEnv names the variable that lets the node e2e skip when it cannot
// run (not root); without it a missing requirement fails the test.
const NodeSkipEnv = "FLINKGATE_SKIP_NODE"

// CheckNodeHost returns why this machine cannot run the node, or nil.
func CheckNodeHost() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the e2e node needs root (containerd, kubelet, iptables, mounts); run as root or set %s=1 to skip it", NodeSkipEnv)
	}
	return nil
}

// ensureNodePackages installs the missing Debian packages with apt-get.
func ensureNodePackages(ctx context.Context, log func(string, ...any)) error {
	var missing []string
	for _, p := range nodePackages {
		if _, err := exec.LookPath(p.binary); err != nil {
			missing = append(missing, p.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("the e2e node needs the packages %s and there is no apt-get to install them; install them first", strings.Join(missing, ", "))
	}
	log("installing %s with apt-get", strings.Join(missing, " "))
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if _, _, err := run(ctx, env, "", "apt-get", "update", "-qq"); err != nil {
		return fmt.Errorf("install the node's packages: %w", err)
	}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)
	if _, _, err := run(ctx, env, "", "apt-get", args...); err != nil {
		return fmt.Errorf("install the node's packages: %w", err)
	}
	return nil
}

// hostIP is the address of the interface with the default route: the API
// server advertises it (pods reach it through the "kubernetes" Service) and
// the kubelet registers it as the node's address.
func hostIP() (net.IP, error) {
	// A UDP "connection" sends nothing; it only asks the kernel for a route.
	conn, err := net.Dial("udp4", "192.0.2.255:9")
	if err != nil {
		return nil, fmt.Errorf("find this machine's address (a default IPv4 route is needed for the node): %w", err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP, nil
}

// node holds what the node started, for teardown.
type node struct {
	dir      string
	socket   string
	ctr      []string // ctr's global flags: address and namespace
	procs    []*process
	stats    NodeStats
	ipFwdOld string
	dns      *dnsServer
}

// NodeStats are the node's measured costs, for the test's report.
type NodeStats struct {
	// Startup is from the first node process to the node being Ready.
	Startup time.Duration
	// Teardown is the time Stop spent on the node.
	Teardown time.Duration
	// Leftovers lists what teardown could not remove; empty is clean.
	Leftovers []string
}

// NodeStats returns the node's measurements; Teardown and Leftovers are set
// once Stop has returned.
func (c *Cluster) NodeStats() NodeStats {
	if c.node == nil {
		return NodeStats{}
	}
	return c.node.stats
}

// startNode runs containerd, imports the images, and runs the kubelet,
// kube-proxy, kube-controller-manager and kube-scheduler, returning once the
// node is Ready. certs are the components' client certificates.
func (c *Cluster) startNode(ctx context.Context, ca *certs.CA, ip net.IP) error {
	started := time.Now()
	n := &node{dir: filepath.Join(c.Dir, nodeDir)}
	c.node = n
	n.socket = filepath.Join(n.dir, "containerd", "containerd.sock")
	n.ctr = []string{"--address", n.socket, "--namespace", "k8s.io"}
	for _, d := range []string{"containerd/root", "containerd/state", "containerd/runc", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "images"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o700); err != nil {
			return fmt.Errorf("create node directory: %w", err)
		}
	}
	if err := writeFiles(n.dir, map[string][]byte{
		"containerd/config.toml":              []byte(containerdConfig(n.dir)),
		"cni/net.d/10-flinkgate-e2e.conflist": []byte(cniConfig(n.dir)),
	}); err != nil {
		return err
	}
	// Components authenticate with client certificates under the names the
	// API server's default RBAC (and the Node authorizer) expect.
	kubeconfigs := map[string][]string{
		"kubelet":                 {"system:node:" + NodeName, "system:nodes"},
		"kube-proxy":              {"system:kube-proxy"},
		"kube-controller-manager": {"system:kube-controller-manager"},
		"kube-scheduler":          {"system:kube-scheduler"},
	}
	for name, id := range kubeconfigs {
		cert, err := ca.Client(id[0], id[1:], certValidity)
		if err != nil {
			return err
		}
		if err := writeKubeconfig(filepath.Join(n.dir, name+".kubeconfig"), c.Server, ca.CertPEM, &clientcmdapi.AuthInfo{ClientCertificateData: cert.CertPEM, ClientKeyData: cert.KeyPEM}); err != nil {
			return err
		}
	}

	t0 := time.Now()
	containerd, err := c.spawnNode("containerd", "containerd", "--config", filepath.Join(n.dir, "containerd/config.toml"))
	if err != nil {
		return err
	}
	if err := poll(ctx, startTimeout, "containerd", containerd, func(ctx context.Context) (bool, error) {
		_, _, err := run(ctx, nil, "", "ctr", append(n.ctr, "version")...)
		return err == nil, err
	}); err != nil {
		return err
	}
	c.logf("containerd ready in %s", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	pauseTar, err := c.buildPauseImage(ctx)
	if err != nil {
		return err
	}
	for _, img := range append([]string{pauseTar}, c.opts.Images...) {
		if _, _, err := run(ctx, nil, "", "ctr", append(n.ctr, "images", "import", img)...); err != nil {
			return fmt.Errorf("import image %s: %w", img, err)
		}
	}
	c.logf("imported %d images in %s", 1+len(c.opts.Images), time.Since(t0).Round(time.Millisecond))

	ports, err := FreePorts(6)
	if err != nil {
		return err
	}
	// The kubelet gives pods this address as their nameserver.
	if n.dns, err = startDNS(ip, c.client); err != nil {
		return err
	}
	if err := writeFiles(n.dir, map[string][]byte{
		"kubelet-config.yaml":    []byte(kubeletConfig(n, c.Dir, ip, ports[0], ports[1])),
		"kube-proxy-config.yaml": []byte(kubeProxyConfig(n.dir, ports[2], ports[3])),
	}); err != nil {
		return err
	}
	if old, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		n.ipFwdOld = strings.TrimSpace(string(old))
	}
	// Pods reach the API server and each other through the host.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding: %w", err)
	}

	if _, err := c.spawnNode("kube-controller-manager", filepath.Join(c.opts.BinDir, "kube-controller-manager"),
		"--kubeconfig="+filepath.Join(n.dir, "kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+filepath.Join(n.dir, "kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(n.dir, "kube-controller-manager.kubeconfig"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[4]),
		// Publishes kube-root-ca.crt, which every ServiceAccount token volume needs.
		"--root-ca-file="+filepath.Join(c.Dir, "ca.crt"),
		"--service-account-private-key-file="+filepath.Join(c.Dir, "sa.key"),
		// Each controller under its own ServiceAccount, as kubeadm runs it:
		// the bootstrap RBAC grants system:kube-controller-manager little.
		"--use-service-account-credentials=true",
		"--service-cluster-ip-range="+serviceCIDR,
		"--allocate-node-cidrs=false",
		// The node has no cloud and no persistent volumes.
		"--controllers=*",
	); err != nil {
		return err
	}
	if _, err := c.spawnNode("kube-scheduler", filepath.Join(c.opts.BinDir, "kube-scheduler"),
		"--kubeconfig="+filepath.Join(n.dir, "kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig="+filepath.Join(n.dir, "kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(n.dir, "kube-scheduler.kubeconfig"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[5]),
	); err != nil {
		return err
	}
	kubelet, err := c.spawnNode("kubelet", filepath.Join(c.opts.BinDir, "kubelet"),
		"--config="+filepath.Join(n.dir, "kubelet-config.yaml"),
		"--kubeconfig="+filepath.Join(n.dir, "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(n.dir, "kubelet"),
		"--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override="+NodeName,
		"--node-ip="+ip.String(),
	)
	if err != nil {
		return err
	}
	if _, err := c.spawnNode("kube-proxy", filepath.Join(c.opts.BinDir, "kube-proxy"),
		"--config="+filepath.Join(n.dir, "kube-proxy-config.yaml"),
		"--hostname-override="+NodeName,
	); err != nil {
		return err
	}
	if err := poll(ctx, startTimeout, "node "+NodeName+" to be Ready", kubelet, func(ctx context.Context) (bool, error) {
		nd, err := c.client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range nd.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return true, nil
				}
				return false, fmt.Errorf("node not ready: %s: %s", cond.Reason, cond.Message)
			}
		}
		return false, errors.New("node has no Ready condition yet")
	}); err != nil {
		return err
	}
	n.stats.Startup = time.Since(started)
	c.logf("node %s Ready in %s", NodeName, n.stats.Startup.Round(time.Millisecond))
	return nil
}

// spawnNode is spawn for a node process, which also counts for teardown.
func (c *Cluster) spawnNode(name, bin string, args ...string) (*process, error) {
	p, err := c.spawn(name, bin, args...)
	if err != nil {
		return nil, err
	}
	c.node.procs = append(c.node.procs, p)
	return p, nil
}

// buildPauseImage builds the sandbox image from internal/cluster/pause; the
// module is found from the working directory, as `go build` finds it.
func (c *Cluster) buildPauseImage(ctx context.Context) (string, error) {
	bin := filepath.Join(c.node.dir, "images", "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "flinkgate.io/flinkgate/internal/cluster/pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the pause binary: %w: %s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("read the pause binary: %w", err)
	}
	img, err := ociimage.Build(data, ociimage.Pause)
	if err != nil {
		return "", err
	}
	tarPath := filepath.Join(c.node.dir, "images", "pause.tar")
	return tarPath, ociimage.WriteOCI(tarPath, PauseImage, img)
}

// NodeContainers lists the ids of the containers (pods' sandboxes included)
// in the node's containerd.
func (c *Cluster) NodeContainers(ctx context.Context) ([]string, error) {
	if c.node == nil {
		return nil, errors.New("the cluster has no node")
	}
	out, _, err := run(ctx, nil, "", "ctr", append(c.node.ctr, "containers", "ls", "-q")...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}
