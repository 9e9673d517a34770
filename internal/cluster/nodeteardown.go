package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
