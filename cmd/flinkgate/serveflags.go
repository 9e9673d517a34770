package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/validation"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/internal/server"
	"flinkgate.io/flinkgate/rbac"
)

type serveConfig struct {
	certFile, keyFile string
	webhookAddr       string
	metricsAddr       string
	kubeconfig        string
	platformNamespace string
	namespaces        []string
	logLevel          zapcore.Level
	preflight         rbac.Mode
	profilingAddr     string
	authorization     authz.Mode
	authzCacheTTL     time.Duration
	// platformSA is the platform's ServiceAccount (in the platform
	// namespace) that the preflight asks about; empty: flinkgate's own.
	platformSA     string
	leaderElect    bool
	leaseName      string
	leaseNamespace string
	settle         time.Duration
	selfTLS        selfTLSFlags
	shutdownDrain  time.Duration
	// clientCAFile and clientNames admit to the webhook port only callers
	// with a certificate that CA signed (the API server's); empty: anyone.
	clientCAFile string
	clientNames  []string
	// maxConns bounds the webhook port's connections.
	maxConns int
	// memoryLimit is the container's memory limit in bytes (0: none);
	// memoryLimitRatio of it becomes the Go memory limit.
	memoryLimit      int64
	memoryLimitRatio float64
	// flinkOperator turns on the reconciler of Deployments into the Flink
	// Kubernetes Operator's FlinkDeployments; flinkServiceAccount is their
	// pods' ServiceAccount unless a document names one.
	flinkOperator       flinkop.Mode
	flinkServiceAccount string
	// flinkAllowedServiceAccounts are the others a document may name.
	flinkAllowedServiceAccounts []string
}

// maxAuthzCacheTTL bounds --authorization-cache-ttl: a revoked grant must
// not keep working for long.
const maxAuthzCacheTTL = time.Minute

// defaultShutdownDrain covers the time for a terminating pod to leave the
// Service's endpoints and for the API server and kube-proxy to notice, which
// is about a second on a healthy cluster; the chart's
// terminationGracePeriodSeconds (30) leaves room for it plus
// server.ShutdownTimeout.
const defaultShutdownDrain = 5 * time.Second

func parseServeFlags(args []string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := &serveConfig{preflight: rbac.ModeEnforce, logLevel: zapcore.InfoLevel, authorization: authz.ModeRBAC, shutdownDrain: defaultShutdownDrain,
		flinkOperator: flinkop.ModeOff}
	lists := c.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.clientNames = splitList(*lists.clientNames)
	c.namespaces = splitList(*lists.namespaces)
	c.flinkAllowedServiceAccounts = splitList(*lists.flinkAllowedServiceAccounts)
	if len(c.namespaces) == 0 {
		c.namespaces = []string{c.platformNamespace}
	}
	if c.leaseNamespace == "" {
		c.leaseNamespace = c.platformNamespace
	}
	if err := c.check(fs.Args()); err != nil {
		return nil, err
	}
	return c, nil
}

// listFlags are the comma-separated flags, split after parsing.
type listFlags struct{ namespaces, clientNames, flinkAllowedServiceAccounts *string }

func (c *serveConfig) register(fs *flag.FlagSet) listFlags {
	defaultNS := os.Getenv("POD_NAMESPACE")
	if defaultNS == "" {
		defaultNS = "default"
	}
	fs.StringVar(&c.certFile, "tls-cert-file", "", "serving certificate (PEM); reloaded when it changes (required)")
	fs.StringVar(&c.keyFile, "tls-private-key-file", "", "serving private key (PEM); reloaded when it changes (required)")
	fs.StringVar(&c.webhookAddr, "webhook-addr", ":8443", "TLS listener for POST /mutate and POST /validate")
	fs.StringVar(&c.metricsAddr, "metrics-addr", ":8080", "plain HTTP listener for /metrics, /healthz and /readyz")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster")
	fs.StringVar(&c.platformNamespace, "platform-namespace", defaultNS, "the platform namespace (default $POD_NAMESPACE, else default)")
	namespaces := fs.String("namespaces", "", "comma-separated namespaces whose target and deployment ConfigMaps are served (default: the platform namespace)")
	fs.Var(&c.logLevel, "log-level", "debug, info, warn or error")
	fs.Var(&c.preflight, "rbac-preflight", "enforce, warn or off: check the platform's access to a new target's namespace")
	fs.StringVar(&c.clientCAFile, "webhook-client-ca-file", "", "PEM CA bundle; when set, the webhook port completes TLS only with callers presenting a client certificate one of these CAs signed (the API server's, from its AdmissionConfiguration); reloaded when it changes (empty: any caller)")
	clientNames := fs.String("webhook-client-names", "", "comma-separated names, one of which the webhook client certificate must carry as a DNS name or, when no CA on its chain has name constraints, its common name (empty: any the CA signed; needs --webhook-client-ca-file)")
	fs.IntVar(&c.maxConns, "max-webhook-connections", server.DefaultMaxConnections, "connections the webhook port keeps open at most (each costs up to about 60 KiB): beyond it, the oldest that has not sent a request is closed, or else the new one (at least 16)")
	fs.StringVar(&c.profilingAddr, "profiling-addr", "", "plain HTTP listener for net/http/pprof, for benchmarks and debugging (empty: off)")
	fs.StringVar(&c.platformSA, "platform-service-account", "", "name of the platform's ServiceAccount in the platform namespace, which the RBAC preflight asks about (default: flinkgate's own identity)")
	fs.Var(&c.authorization, "authorization", "rbac or off: ask the API server whether the requesting user may act on flinkgate.io deploymenttargets and deployments")
	fs.DurationVar(&c.authzCacheTTL, "authorization-cache-ttl", 5*time.Second, "how long an allowed authorization answer is reused (refusals at most 1s); at most 1m")
	fs.BoolVar(&c.leaderElect, "leader-elect", true, "run the protection controller only in the replica that holds the Lease")
	fs.StringVar(&c.leaseName, "leader-elect-lease-name", "flinkgate-protection", "name of the protection controller's Lease")
	fs.StringVar(&c.leaseNamespace, "leader-elect-namespace", "", "namespace of the protection controller's Lease (default: the platform namespace)")
	fs.DurationVar(&c.settle, "protection-settle", protection.DefaultSettle, "how long a target must have been terminating before its finalizer may be released; at least the API server's --request-timeout plus clock skew")
	fs.Int64Var(&c.memoryLimit, "memory-limit", 0, "the container's memory limit in bytes (the chart passes it from the downward API); --memory-limit-ratio of it becomes the Go memory limit, unless GOMEMLIMIT is set (0: none)")
	fs.Float64Var(&c.memoryLimitRatio, "memory-limit-ratio", defaultMemoryLimitRatio, "share of --memory-limit the Go runtime keeps the heap under, so the collector works before the kernel kills the container (0.5-0.95); the reviews being decided may allocate half the Go memory limit at once")
	fs.Var(&c.flinkOperator, "flink-operator", "off or on: reconcile each Deployment into an Apache Flink Kubernetes Operator FlinkDeployment in its target's namespace, and deny at admission what has no counterpart")
	fs.StringVar(&c.flinkServiceAccount, "flink-service-account", "flink", "with --flink-operator=on: the ServiceAccount of the Flink pods, unless a deployment names one in spec.template.spec.kubernetes.serviceAccountName")
	flinkAllowed := fs.String("flink-allowed-service-accounts", "", "with --flink-operator=on: comma-separated ServiceAccounts a deployment may name in spec.template.spec.kubernetes.serviceAccountName besides --flink-service-account; any other is denied, since the Flink pods run with its token (empty: only the default)")
	c.selfTLS.register(fs)
	fs.DurationVar(&c.shutdownDrain, "shutdown-drain", defaultShutdownDrain, "on SIGTERM, how long to keep serving while unready, so the API server stops picking this replica before it goes (0-60s)")
	return listFlags{namespaces: namespaces, clientNames: clientNames, flinkAllowedServiceAccounts: flinkAllowed}
}

// check says what is wrong with a parsed configuration and the arguments
// left after the flags, or nil.
func (c *serveConfig) check(args []string) error {
	if c.shutdownDrain < 0 || c.shutdownDrain > time.Minute {
		return fmt.Errorf("--shutdown-drain=%s: want between 0s and 60s", c.shutdownDrain)
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q", args)
	}
	if err := c.selfTLS.check(c.certFile, c.keyFile); err != nil {
		return err
	}
	if c.authzCacheTTL < 0 || c.authzCacheTTL > maxAuthzCacheTTL {
		return fmt.Errorf("--authorization-cache-ttl=%s is out of range: want 0 to %s", c.authzCacheTTL, maxAuthzCacheTTL)
	}
	if c.platformSA != "" {
		if errs := validation.IsDNS1123Subdomain(c.platformSA); len(errs) > 0 {
			return fmt.Errorf("--platform-service-account %q is not a valid ServiceAccount name: %v", c.platformSA, errs)
		}
	}
	if c.flinkOperator == flinkop.ModeOn && c.authorization == authz.ModeOff {
		// The operator writes into whatever namespace a target names; without
		// the authorization check anyone who may create a ConfigMap could aim
		// a target at any namespace the platform manages.
		return errors.New("--flink-operator=on needs --authorization=rbac: without it anyone who may write a target ConfigMap could have FlinkDeployments created in any namespace the platform manages; set --authorization=rbac or --flink-operator=off")
	}
	if errs := validation.IsDNS1123Subdomain(c.flinkServiceAccount); len(errs) > 0 {
		return fmt.Errorf("--flink-service-account %q is not a valid ServiceAccount name: %v", c.flinkServiceAccount, errs)
	}
	for _, sa := range c.flinkAllowedServiceAccounts {
		if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
			return fmt.Errorf("--flink-allowed-service-accounts %q is not a valid ServiceAccount name: %v", sa, errs)
		}
	}
	if c.settle < 0 {
		return errors.New("--protection-settle must not be negative")
	}
	if err := checkMemoryLimitFlags(c.memoryLimit, c.memoryLimitRatio); err != nil {
		return err
	}
	if c.maxConns < 16 {
		return fmt.Errorf("--max-webhook-connections=%d: want at least 16", c.maxConns)
	}
	if len(c.clientNames) > 0 && c.clientCAFile == "" {
		return errors.New("--webhook-client-names needs --webhook-client-ca-file: names are checked on certificates that CA signed")
	}
	for _, ns := range append([]string{c.platformNamespace, c.leaseNamespace}, c.namespaces...) {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("namespace %q is not valid: %v", ns, errs)
		}
	}
	return nil
}
