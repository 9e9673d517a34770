package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FlinkgateOptions configure StartFlinkgate.
type FlinkgateOptions struct {
	// Binary is the flinkgate executable.
	Binary string
	// CertDir holds ca.crt, tls.crt and tls.key. Empty means generate them
	// with `flinkgate certs generate` for 127.0.0.1 and localhost.
	CertDir string
	// Kubeconfig is the identity flinkgate runs as; empty means admin.
	Kubeconfig string
	// PlatformNamespace and Namespaces are passed as --platform-namespace
	// and --namespaces; empty leaves flinkgate's defaults.
	PlatformNamespace string
	Namespaces        []string
	// SelfTLS leaves the certificate to flinkgate (tls.mode self): no files,
	// and ExtraArgs must carry the --self-tls-* flags.
	SelfTLS bool
	// WebhookClientCA makes flinkgate complete TLS only with callers that
	// present the API server's webhook client certificate.
	WebhookClientCA bool
	// FlinkOperator passes --flink-operator=on: flinkgate reconciles
	// Deployments into the Flink operator's FlinkDeployments.
	FlinkOperator bool
	// PlatformServiceAccount is passed as --platform-service-account: the
	// identity the RBAC preflight asks about and the reconciler writes as.
	PlatformServiceAccount string
	// ExtraArgs are appended to the serve command line.
	ExtraArgs []string
	// WebhookPort and MetricsPort are the loopback ports; 0 picks free ones.
	WebhookPort, MetricsPort int
}

// Flinkgate is a running `flinkgate serve`.
type Flinkgate struct {
	proc        *process
	webhookPort int
	metricsPort int
	certDir     string
	caBundle    []byte
}

// StartFlinkgate runs `flinkgate serve` as a local process and returns once
// its /readyz answers 200. ctx bounds the startup only; the process runs
// until Flinkgate.Stop or Cluster.Stop.
func (c *Cluster) StartFlinkgate(ctx context.Context, opts FlinkgateOptions) (*Flinkgate, error) {
	c.mu.Lock()
	c.flinkgates++
	name := "flinkgate-" + strconv.Itoa(c.flinkgates)
	c.mu.Unlock()

	// The child runs in the cluster directory, so every path it gets must
	// be absolute.
	binary, err := filepath.Abs(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("resolve flinkgate binary: %w", err)
	}
	kubeconfig := c.Kubeconfig
	if opts.Kubeconfig != "" {
		if kubeconfig, err = filepath.Abs(opts.Kubeconfig); err != nil {
			return nil, fmt.Errorf("resolve kubeconfig: %w", err)
		}
	}
	certDir := opts.CertDir
	if opts.SelfTLS {
		certDir = ""
	} else if certDir == "" {
		certDir = filepath.Join(c.Dir, name+"-certs")
		if err := os.Mkdir(certDir, 0o700); err != nil {
			return nil, fmt.Errorf("create flinkgate certificate directory: %w", err)
		}
		if _, _, err := run(ctx, nil, "", binary, "certs", "generate", "--out", certDir, "--hosts", "127.0.0.1,localhost"); err != nil {
			return nil, fmt.Errorf("generate flinkgate certificates: %w", err)
		}
	} else if certDir, err = filepath.Abs(certDir); err != nil {
		return nil, fmt.Errorf("resolve certificate directory: %w", err)
	}
	var caBundle []byte
	if !opts.SelfTLS {
		if caBundle, err = os.ReadFile(filepath.Join(certDir, "ca.crt")); err != nil {
			return nil, fmt.Errorf("read flinkgate ca bundle: %w", err)
		}
	}

	f := &Flinkgate{webhookPort: opts.WebhookPort, metricsPort: opts.MetricsPort, certDir: certDir, caBundle: caBundle}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	if f.webhookPort == 0 {
		f.webhookPort = ports[0]
	}
	if f.metricsPort == 0 {
		f.metricsPort = ports[1]
	}

	args := []string{"serve"}
	if !opts.SelfTLS {
		args = append(args, "--tls-cert-file="+filepath.Join(certDir, "tls.crt"),
			"--tls-private-key-file="+filepath.Join(certDir, "tls.key"))
	}
	args = append(args,
		"--webhook-addr=127.0.0.1:"+strconv.Itoa(f.webhookPort),
		"--metrics-addr=127.0.0.1:"+strconv.Itoa(f.metricsPort),
		"--kubeconfig="+kubeconfig,
		"--log-level=debug",
	)
	if opts.PlatformNamespace != "" {
		args = append(args, "--platform-namespace="+opts.PlatformNamespace)
	}
	if len(opts.Namespaces) > 0 {
		args = append(args, "--namespaces="+strings.Join(opts.Namespaces, ","))
	}
	if opts.FlinkOperator {
		args = append(args, "--flink-operator=on")
	}
	if opts.PlatformServiceAccount != "" {
		args = append(args, "--platform-service-account="+opts.PlatformServiceAccount)
	}
	if opts.WebhookClientCA {
		args = append(args, "--webhook-client-ca-file="+c.WebhookClientCAFile(), "--webhook-client-names="+WebhookClientName)
	}
	args = append(args, opts.ExtraArgs...)

	started := time.Now()
	if f.proc, err = c.spawn(name, binary, args...); err != nil {
		return nil, err
	}
	if err := poll(ctx, startTimeout, name+" /readyz", f.proc, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, f.MetricsURL()+"/readyz")
	}); err != nil {
		f.Stop()
		return nil, err
	}
	c.logf("%s ready at %s in %s", name, f.WebhookURL(), time.Since(started).Round(time.Millisecond))
	return f, nil
}

// WebhookURL is the base URL of the admission endpoints (/mutate, /validate).
func (f *Flinkgate) WebhookURL() string { return "https://127.0.0.1:" + strconv.Itoa(f.webhookPort) }

// MetricsURL is the base URL of /metrics, /healthz and /readyz.
func (f *Flinkgate) MetricsURL() string { return "http://127.0.0.1:" + strconv.Itoa(f.metricsPort) }

// CABundle is the PEM CA that signed the serving certificate.
func (f *Flinkgate) CABundle() []byte { return f.caBundle }

// CertDir holds ca.crt, tls.crt and tls.key; flinkgate reloads the latter
// two when they change.
func (f *Flinkgate) CertDir() string { return f.certDir }

// LogPath is the file flinkgate's stdout and stderr go to.
func (f *Flinkgate) LogPath() string { return f.proc.logPath }

// Pid is the process id, for tests that check the process is gone.
func (f *Flinkgate) Pid() int { return f.proc.pid() }

// Stop stops flinkgate (SIGTERM, then SIGKILL after a bounded wait). It is
// idempotent; Cluster.Stop also stops it.
func (f *Flinkgate) Stop() { f.proc.stop() }

// Kill ends flinkgate with SIGKILL: no lease release, no shutdown work.
func (f *Flinkgate) Kill() { f.proc.kill() }

// Exited reports whether the process has ended.
func (f *Flinkgate) Exited() bool { return f.proc.exitError() != nil }
