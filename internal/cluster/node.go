// This file is over 400 lines because a node is one life cycle: host packages, containerd,
// CNI, kubelet, controllers and images, and a teardown that must undo each of them in reverse.

package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

func containerdConfig(dir string) string {
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  # This machine refuses negative oom_score_adj; without this runc fails
  # with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  # Network namespaces are mounted here, not in /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[5]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
`, filepath.Join(dir, "containerd/root"), filepath.Join(dir, "containerd/state"), filepath.Join(dir, "containerd/containerd.sock"),
		PauseImage, filepath.Join(dir, "containerd/runc"), filepath.Join(dir, "cni/net.d"))
}

func cniConfig(dir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "flinkgate-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": %q
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, bridgeName, podSubnet, filepath.Join(dir, "cni/ipam"))
}

func kubeletConfig(n *node, clusterDir string, dns net.IP, port, healthzPort int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s
imageServiceEndpoint: unix://%[1]s
address: 0.0.0.0
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
podLogsDir: %[4]q
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[5]q}
authorization: {mode: AlwaysAllow}
registerNode: true
failSwapOn: false
serializeImagePulls: false
# A test node: no disk pressure evictions on a busy shared disk.
evictionHard: {}
imageGCHighThresholdPercent: 100
syncFrequency: 10s
fileCheckFrequency: 10s
# The cluster's DNS (dns.go) answers for Services.
clusterDNS: [%[6]q]
clusterDomain: %[7]q
`, n.socket, port, healthzPort, filepath.Join(n.dir, "pod-logs"), filepath.Join(clusterDir, "ca.crt"), dns.String(), clusterDomain)
}

func kubeProxyConfig(dir string, healthzPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %q
clusterCIDR: %q
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
conntrack:
  # Leave the host's conntrack table size alone.
  maxPerCore: 0
  min: 0
`, filepath.Join(dir, "kube-proxy.kubeconfig"), podSubnet, healthzPort, metricsPort)
}

// Teardown bounds. stopNode must finish well inside `make demo-down`'s 60 s
// wait for devcluster, which otherwise kills it half-way and leaves the
// pods' shims, mounts and bridge on the host.
const (
	// podStopWait is how long the kubelet gets to stop the pods itself,
	// which is what releases their networks cleanly (the CNI DEL).
	podStopWait = 20 * time.Second
	// podStopGrace is the pods' grace period at teardown: the chart's 30 s
	// (a drain and in-flight requests) is for rollouts, not for this.
	podStopGrace int64 = 1
	// nodeTeardownTimeout bounds every command the teardown runs.
	nodeTeardownTimeout = 45 * time.Second
)

// stopNode tears the node down and records what it could not remove in the
// stats. The order matters:
//  1. the controller-manager and scheduler, so that no ReplicaSet replaces
//     the pods the next step deletes (they did, and the wait for an empty
//     node never ended while the chart was installed);
//  2. every pod, deleted with a short grace period, so that the kubelet
//     stops their sandboxes, which runs the CNI DEL and unmounts volumes;
//  3. the kubelet and kube-proxy;
//  4. whatever is left, by force: every task and container in containerd,
//     then every process still in the kubelet's cgroups or still using
//     this node's containerd (a shim, or a container whose shim is gone);
//  5. containerd, then mounts, the bridge, iptables chains and cgroups.
func (c *Cluster) stopNode() {
	n := c.node
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTeardownTimeout)
	defer cancel()

	n.stopProcs("kube-controller-manager", "kube-scheduler")
	if c.client != nil {
		c.deletePods(ctx)
	}
	n.stopProcs("kubelet", "kube-proxy")
	// Anything the kubelet left: kill and delete every task and container,
	// which ends their shims.
	if out, _, err := run(ctx, nil, "", "ctr", append(n.ctr, "containers", "ls", "-q")...); err == nil {
		for _, id := range strings.Fields(out) {
			_, _, _ = run(ctx, nil, "", "ctr", append(n.ctr, "tasks", "kill", "-a", "-s", "SIGKILL", id)...)
			_, _, _ = run(ctx, nil, "", "ctr", append(n.ctr, "tasks", "delete", "-f", id)...)
			_, _, _ = run(ctx, nil, "", "ctr", append(n.ctr, "containers", "delete", id)...)
		}
	}
	c.killNodeStragglers(ctx)
	if n.dns != nil {
		n.dns.close()
	}
	n.stopProcs("containerd")
	// A shim outlives containerd; none should be left, but one that is
	// would hold mounts and the pod's network namespace.
	c.killNodeStragglers(ctx)
	// kube-proxy's chains (KUBE-*) in every table.
	_, _, _ = run(ctx, nil, "", filepath.Join(c.opts.BinDir, "kube-proxy"), "--cleanup")
	var leftovers []string
	leftovers = append(leftovers, unmountUnder(c.Dir)...)
	if _, err := net.InterfaceByName(bridgeName); err == nil {
		if _, _, err := run(ctx, nil, "", "ip", "link", "delete", bridgeName); err != nil {
			leftovers = append(leftovers, "bridge "+bridgeName+": "+err.Error())
		}
	}
	leftovers = append(leftovers, removeChains(ctx)...)
	leftovers = append(leftovers, removeCgroups(kubeletCgroup)...)
	if n.ipFwdOld != "" {
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(n.ipFwdOld), 0o644)
	}
	leftovers = append(leftovers, c.nodeLeftovers()...)
	n.stats.Leftovers = leftovers
	n.stats.Teardown = time.Since(started)
	c.logf("node torn down in %s; leftovers: %d %v", n.stats.Teardown.Round(time.Millisecond), len(leftovers), leftovers)
}

// stopProcs stops the named node processes at once, so that the teardown
// waits for the slowest, not for their sum.
func (n *node) stopProcs(names ...string) {
	var wg sync.WaitGroup
	for _, p := range n.procs {
		if slices.Contains(names, p.name) {
			wg.Go(p.stop)
		}
	}
	wg.Wait()
}

// deletePods deletes every pod with a short grace period and waits, at most
// podStopWait, until the API server has none and containerd runs no task.
// A node that does not get there is cleaned up by force afterwards.
func (c *Cluster) deletePods(ctx context.Context) {
	n := c.node
	nss, err := c.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		c.logf("teardown: list namespaces: %v", err)
		return
	}
	for _, ns := range nss.Items {
		err := c.client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(podStopGrace)}, metav1.ListOptions{})
		if err != nil {
			c.logf("teardown: delete the pods of %s: %v", ns.Name, err)
		}
	}
	err = poll(ctx, podStopWait, "the kubelet to stop every pod", nil, func(ctx context.Context) (bool, error) {
		pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		if len(pods.Items) > 0 {
			return false, fmt.Errorf("%d pods left, first %s/%s", len(pods.Items), pods.Items[0].Namespace, pods.Items[0].Name)
		}
		out, _, err := run(ctx, nil, "", "ctr", append(n.ctr, "tasks", "ls", "-q")...)
		if err != nil {
			return false, err
		}
		return strings.TrimSpace(out) == "", fmt.Errorf("tasks still running: %s", strings.Join(strings.Fields(out), " "))
	})
	if err != nil {
		c.logf("teardown: %v; removing the rest by force", err)
	}
}

// killNodeStragglers kills every process of the node that outlived its
// parent: those in the kubelet's cgroups (containers) and those naming the
// node's containerd socket (shims).
func (c *Cluster) killNodeStragglers(ctx context.Context) {
	pids := c.nodeProcesses()
	if len(pids) == 0 {
		return
	}
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = poll(ctx, 5*time.Second, "killed node processes to exit", nil, func(context.Context) (bool, error) {
		for pid := range pids {
			if processExists(pid) && !zombie(pid) {
				return false, fmt.Errorf("process %d still runs", pid)
			}
		}
		return true, nil
	})
}

// nodeProcesses returns the node's processes other than the ones the
// cluster started itself, with their command lines: those in the kubelet's
// cgroups and those whose command line names the node's containerd socket
// (shims). A command line merely naming the cluster directory (devcluster,
// a `tail -f` of a log) is not the node's.
func (c *Cluster) nodeProcesses() map[int]string {
	own := map[int]bool{os.Getpid(): true}
	c.mu.Lock()
	for _, p := range c.procs {
		own[p.pid()] = true
	}
	c.mu.Unlock()
	found := map[int]string{}
	cmdline := func(pid int) string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	for _, root := range cgroupRoots(kubeletCgroup) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !own[pid] && !zombie(pid) {
					found[pid] = cmdline(pid)
				}
			}
			return nil
		})
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || own[pid] || zombie(pid) {
			continue
		}
		if line := cmdline(pid); strings.Contains(line, c.node.socket) {
			found[pid] = line
		}
	}
	return found
}

// zombie reports whether pid has exited and waits for its parent to reap
// it; it holds nothing then. A process killed by the teardown whose parent
// is an init that does not reap stays a zombie.
func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain them.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// unmountUnder unmounts every mount below dir, deepest first, and returns
// those that stay.
func unmountUnder(dir string) []string {
	var left []string
	for _, m := range mountsUnder(dir) {
		if err := syscall.Unmount(m, 0); err != nil {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				left = append(left, "mount "+m+": "+err.Error())
			}
		}
	}
	return left
}

// mountsUnder lists the mount points below dir from /proc/self/mountinfo,
// deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		// Octal escapes (\040 for a space) do not occur in our paths.
		if mp := fields[4]; strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	return mounts
}

// chainPrefixes are the iptables chains the node creates: kube-proxy's and
// the kubelet's (KUBE-) and the bridge plugin's masquerading (CNI-).
var chainPrefixes = []string{"KUBE-", "CNI-"}

func ownChain(name string) bool {
	for _, p := range chainPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// removeChains removes the node's iptables chains from every table, with
// the rules that jump to them from the built-in chains, and returns those
// that stay.
func removeChains(ctx context.Context) []string {
	var left []string
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, _, err := run(ctx, nil, "", "iptables", "-t", table, "-S")
		if err != nil {
			continue
		}
		var chains []string
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "-N" && ownChain(f[1]):
				chains = append(chains, f[1])
			case len(f) > 3 && f[0] == "-A" && !ownChain(f[1]) && slices.ContainsFunc(chainPrefixes, func(p string) bool { return strings.Contains(line, "-j "+p) }):
				// The shell undoes iptables' quoting of comments.
				_, _, _ = run(ctx, nil, "", "sh", "-c", "iptables -t "+table+" -D "+strings.TrimSpace(strings.TrimPrefix(line, "-A ")))
			}
		}
		for _, ch := range chains {
			_, _, _ = run(ctx, nil, "", "iptables", "-t", table, "-F", ch)
		}
		for _, ch := range chains {
			if _, _, err := run(ctx, nil, "", "iptables", "-t", table, "-X", ch); err != nil {
				left = append(left, "iptables "+table+" chain "+ch+": "+err.Error())
			}
		}
	}
	return left
}

// kubeletCgroup is the cgroup tree the kubelet puts pods in (cgroupfs
// driver); the node's containers' processes are in it.
const kubeletCgroup = "kubepods"

// cgroupRoots lists the kubelet's cgroup tree (name) in every cgroup v1
// hierarchy, or the one of cgroup v2.
func cgroupRoots(name string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + name)
	if _, err := os.Stat("/sys/fs/cgroup/" + name); err == nil {
		roots = append(roots, "/sys/fs/cgroup/"+name)
	}
	return roots
}

// removeCgroups removes the kubelet's cgroup tree (name) from every cgroup
// hierarchy, children first; they are empty once the containers are gone.
func removeCgroups(name string) []string {
	var left []string
	for _, root := range cgroupRoots(name) {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				left = append(left, "cgroup "+dirs[i]+": "+err.Error())
				break
			}
		}
	}
	return left
}

// nodeLeftovers checks that teardown left nothing: no process in the
// kubelet's cgroups or naming the node's containerd (shims), no mount under
// the cluster directory, no bridge or pod veth, no KUBE- or CNI- iptables chain.
func (c *Cluster) nodeLeftovers() []string {
	var left []string
	procs := c.nodeProcesses()
	for _, pid := range slices.Sorted(maps.Keys(procs)) {
		left = append(left, fmt.Sprintf("process %d: %s", pid, procs[pid]))
	}
	for _, m := range mountsUnder(c.Dir) {
		left = append(left, "mount "+m)
	}
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		if i.Name == bridgeName || strings.HasPrefix(i.Name, "veth") {
			left = append(left, "interface "+i.Name)
		}
	}
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, _, _ := run(context.Background(), nil, "", "iptables", "-t", table, "-S")
		for line := range strings.Lines(out) {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] == "-N" && ownChain(f[1]) {
				left = append(left, "iptables "+table+" chain "+f[1])
			}
		}
	}
	return left
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
