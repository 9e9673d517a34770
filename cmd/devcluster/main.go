// Command devcluster runs a local Kubernetes control plane with flinkgate
// registered as its admission webhook, for the demo (hack/demo.sh).
//
//	devcluster up --state DIR --flinkgate BIN --bin TOOLSDIR [--flink-operator-crds DIR] [-- extra serve flags]
//	devcluster up --state DIR --bin TOOLSDIR --node --image TAR
//
// With --flink-operator-crds it installs the Apache Flink Kubernetes
// Operator's CRDs from DIR, gives the platform's ServiceAccount its Role in
// namespace staging, runs flinkgate with --flink-operator=on and a pretend
// operator (pretend.go) that reports every FlinkDeployment RUNNING: the real
// operator, and Flink, do not run here.
//
// With --node it runs a one-node cluster instead (as root), with the image
// tarball imported, and no flinkgate: hack/demo-node.sh installs it with helm.
// It keeps its files in DIR, writes DIR/kubeconfig (admin), DIR/metrics-url
// (flinkgate's /metrics, /healthz and /readyz) and then DIR/ready,
// and runs until SIGINT or SIGTERM, when it stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/rbac"
)

// platformNamespace is where the demo's targets and deployments live.
const platformNamespace = "flink-platform"

// With --flink-operator-crds: the namespace the demo's target names, where
// the FlinkDeployments go, and the platform's ServiceAccount that writes
// them (flinkgate, as admin, impersonates it).
const flinkNamespace = "staging"

var platformServiceAccount = cluster.ServiceAccount{Namespace: platformNamespace, Name: "flink-platform"}

// flinkOperatorCRDs are the operator's CRD files in the --flink-operator-crds
// directory (release-1.15.0).
var flinkOperatorCRDs = []string{
	"flinkdeployments.flink.apache.org-v1.yml",
	"flinksessionjobs.flink.apache.org-v1.yml",
	"flinkstatesnapshots.flink.apache.org-v1.yml",
}

// setUpFlinkOperator installs the operator's CRDs and gives the platform's
// ServiceAccount the Role the chart gives it in a target namespace when
// flinkOperator.enabled.
func setUpFlinkOperator(ctx context.Context, c *cluster.Cluster, dir string) error {
	var files []string
	for _, f := range flinkOperatorCRDs {
		files = append(files, filepath.Join(dir, f))
	}
	if err := c.InstallCRDs(ctx, files, time.Minute); err != nil {
		return fmt.Errorf("install the Flink operator's CRDs from %s: %w", dir, err)
	}
	if err := c.CreateNamespace(ctx, flinkNamespace, nil); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := c.CreateServiceAccount(ctx, platformServiceAccount); err != nil {
		return err
	}
	rules := append([]rbacv1.PolicyRule{}, rbac.RequiredRules()...)
	return c.GrantRole(ctx, flinkNamespace, "flinkgate-appmanager", platformServiceAccount, append(rules, rbac.FlinkRules()...))
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "up" {
		return errors.New("usage: devcluster up --state DIR --bin TOOLSDIR (--flinkgate BIN [--flink-operator-crds DIR] [-- extra serve flags] | --node --image TAR)")
	}
	fs := flag.NewFlagSet("devcluster up", flag.ContinueOnError)
	state := fs.String("state", "", "directory for the cluster's files (kept)")
	binary := fs.String("flinkgate", "", "flinkgate binary")
	bin := fs.String("bin", "", "directory with etcd, kube-apiserver, kubectl and helm (hack/tools.sh)")
	node := fs.Bool("node", false, "run a node (containerd, kubelet, ...) and no local flinkgate; needs root")
	image := fs.String("image", "", "with --node: an OCI image tarball to import into the node")
	crds := fs.String("flink-operator-crds", "", "directory of the Flink operator's CRDs: install them, run flinkgate with --flink-operator=on and a pretend operator")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *state == "" || *bin == "" || (*binary == "" && !*node) {
		return errors.New("--state, --bin and --flinkgate (or --node) are required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := cluster.Options{BinDir: *bin, Dir: *state, Log: os.Stderr, Node: *node}
	if *image != "" {
		opts.Images = []string{*image}
	}
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Stop()
	ready := filepath.Join(c.Dir, "ready")
	// A ready file must never outlive the cluster it announces.
	defer os.Remove(ready)

	if *node {
		// The chart's pods run here; the namespace enforces the restricted
		// Pod Security Standard they are written for.
		if err := c.CreateNamespace(ctx, platformNamespace, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}); err != nil {
			return err
		}
		if err := os.WriteFile(ready, []byte(c.Kubeconfig+"\n"), 0o600); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
		fmt.Fprintf(os.Stderr, "devcluster: node ready; KUBECONFIG=%s; stop with SIGTERM\n", c.Kubeconfig)
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "devcluster: stopping")
		return nil
	}
	if err := c.CreateNamespace(ctx, platformNamespace, nil); err != nil {
		return err
	}
	fgOpts := cluster.FlinkgateOptions{
		Binary:            *binary,
		PlatformNamespace: platformNamespace,
		Namespaces:        []string{platformNamespace},
		// As a locked-down cluster runs it: only the API server, presenting
		// its webhook client certificate, gets past TLS.
		WebhookClientCA: true,
		ExtraArgs:       fs.Args(),
	}
	if *crds != "" {
		if err := setUpFlinkOperator(ctx, c, *crds); err != nil {
			return err
		}
		fgOpts.FlinkOperator, fgOpts.PlatformServiceAccount = true, platformServiceAccount.Name
	}
	f, err := c.StartFlinkgate(ctx, fgOpts)
	if err != nil {
		return err
	}
	if *crds != "" {
		dc, err := dynamic.NewForConfig(c.RestConfig())
		if err != nil {
			return err
		}
		go pretendOperator(ctx, dc, os.Stderr)
	}
	if err := c.RegisterWebhooks(ctx, f.WebhookURL(), f.CABundle(), []string{platformNamespace}); err != nil {
		return err
	}
	// The demo shows an admin's view: the metrics, and the audit log.
	if err := os.WriteFile(filepath.Join(c.Dir, "metrics-url"), []byte(f.MetricsURL()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write metrics url: %w", err)
	}
	if err := os.WriteFile(ready, []byte(c.Kubeconfig+"\n"), 0o600); err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	fmt.Fprintf(os.Stderr, "devcluster: ready; KUBECONFIG=%s; flinkgate log: %s; stop with SIGTERM\n", c.Kubeconfig, f.LogPath())

	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "devcluster: stopping")
	return nil
}
