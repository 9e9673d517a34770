package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
)

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
