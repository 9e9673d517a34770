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
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// PIDs returns the process id of each process the cluster started and
// has not stopped, by name (etcd, kube-apiserver, flinkgate-1, ...), so
// that a benchmark can read what CPU each one used.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, p := range c.procs {
		select {
		case <-p.done:
		default:
			out[p.name] = p.pid()
		}
	}
	return out
}

// RestConfig returns a copy of the admin client configuration.
func (c *Cluster) RestConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Client returns an admin clientset.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// CreateNamespace creates a namespace with the given labels.
func (c *Cluster) CreateNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.opts.Log, "cluster: "+format+"\n", args...)
}
