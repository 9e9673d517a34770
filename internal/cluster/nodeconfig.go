package cluster

import (
	"fmt"
	"net"
	"path/filepath"
)

// The configuration files of the node's containerd, CNI plugins, kubelet
// and kube-proxy.

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
