// This file is over 400 lines because it wires every part of flinkgate serve (flags, clients,
// caches, controller, listeners, shutdown) in one readable order.

package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"flinkgate.io/flinkgate/authz"
	"flinkgate.io/flinkgate/cache"
	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/health"
	"flinkgate.io/flinkgate/metrics"
	"flinkgate.io/flinkgate/protection"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/webhook"
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
}

// maxAuthzCacheTTL bounds --authorization-cache-ttl: a revoked grant must
// not keep working for long.
const maxAuthzCacheTTL = time.Minute

func parseServeFlags(args []string) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := &serveConfig{preflight: rbac.ModeEnforce, logLevel: zapcore.InfoLevel, authorization: authz.ModeRBAC, shutdownDrain: defaultShutdownDrain}
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
	fs.IntVar(&c.maxConns, "max-webhook-connections", defaultMaxConnections, "connections the webhook port keeps open at most (each costs up to about 60 KiB): beyond it, the oldest that has not sent a request is closed, or else the new one (at least 16)")
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
	c.selfTLS.register(fs)
	fs.DurationVar(&c.shutdownDrain, "shutdown-drain", defaultShutdownDrain, "on SIGTERM, how long to keep serving while unready, so the API server stops picking this replica before it goes (0-60s)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.shutdownDrain < 0 || c.shutdownDrain > time.Minute {
		return nil, fmt.Errorf("--shutdown-drain=%s: want between 0s and 60s", c.shutdownDrain)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := c.selfTLS.check(c.certFile, c.keyFile); err != nil {
		return nil, err
	}
	if c.authzCacheTTL < 0 || c.authzCacheTTL > maxAuthzCacheTTL {
		return nil, fmt.Errorf("--authorization-cache-ttl=%s is out of range: want 0 to %s", c.authzCacheTTL, maxAuthzCacheTTL)
	}
	if c.platformSA != "" {
		if errs := validation.IsDNS1123Subdomain(c.platformSA); len(errs) > 0 {
			return nil, fmt.Errorf("--platform-service-account %q is not a valid ServiceAccount name: %v", c.platformSA, errs)
		}
	}
	if c.leaseNamespace == "" {
		c.leaseNamespace = c.platformNamespace
	}
	if c.settle < 0 {
		return nil, errors.New("--protection-settle must not be negative")
	}
	if err := checkMemoryLimitFlags(c.memoryLimit, c.memoryLimitRatio); err != nil {
		return nil, err
	}
	if c.maxConns < 16 {
		return nil, fmt.Errorf("--max-webhook-connections=%d: want at least 16", c.maxConns)
	}
	c.clientNames = splitList(*clientNames)
	if len(c.clientNames) > 0 && c.clientCAFile == "" {
		return nil, errors.New("--webhook-client-names needs --webhook-client-ca-file: names are checked on certificates that CA signed")
	}
	c.namespaces = splitList(*namespaces)
	if len(c.namespaces) == 0 {
		c.namespaces = []string{c.platformNamespace}
	}
	for _, ns := range append([]string{c.platformNamespace, c.leaseNamespace}, c.namespaces...) {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("namespace %q is not valid: %v", ns, errs)
		}
	}
	return c, nil
}

// defaultShutdownDrain covers the time for a terminating pod to leave the
// Service's endpoints and for the API server and kube-proxy to notice, which
// is about a second on a healthy cluster; the chart's
// terminationGracePeriodSeconds (30) leaves room for it plus shutdownTimeout.
const defaultShutdownDrain = 5 * time.Second

// shutdownTimeout bounds how long in-flight admissions may finish after the
// drain; the API server gives up on a webhook call after at most 30s, and
// flinkgate's answers take milliseconds.
const shutdownTimeout = 10 * time.Second

func serve(ctx context.Context, c *serveConfig) error {
	zcfg := zap.NewProductionConfig()
	zcfg.Level = zap.NewAtomicLevelAt(c.logLevel)
	zcfg.Sampling = nil // every decision is logged, as SPEC section 4 asks
	log, err := zcfg.Build()
	if err != nil {
		return fmt.Errorf("build logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	if n := applyMemoryLimit(c.memoryLimit, c.memoryLimitRatio, os.Getenv("GOMEMLIMIT")); n > 0 {
		log.Info("go memory limit set", zap.Int64("container_limit_bytes", c.memoryLimit), zap.Int64("go_limit_bytes", n))
	}

	restCfg, err := restConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.UserAgent = "flinkgate"
	restCfg.QPS, restCfg.Burst = 50, 100
	// The rate limit is for background work (informers, the protection
	// controller, leader election); the reads an admission waits for go
	// through the cache's live clients, which have none.
	clients, err := cache.ClientsFor(restCfg)
	if err != nil {
		return err
	}
	client, meta := clients.Client, clients.Meta

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reloader, err := newCertSource(c, client, log, reg)
	if err != nil {
		return err
	}
	var clientAuth *certs.ClientAuth // nil: any caller
	if c.clientCAFile != "" {
		src, err := withClientAuth(reloader, c.clientCAFile, c.clientNames, log, reg)
		if err != nil {
			return err
		}
		reloader, clientAuth = src, src.auth
	}
	refusals := health.NewRefusals()
	caches, err := cache.New(clients, c.namespaces, refusals)
	if err != nil {
		return err
	}
	reg.MustRegister(metrics.StateCollector{State: caches})
	// The preflight asks ~80 access reviews within two seconds per namespace;
	// a client-side rate limit would fail concurrent checks, so it gets its
	// own client and leaves limiting to the API server's priority and
	// fairness. It is built in every mode: with off it only counts skips.
	pcfg := rest.CopyConfig(restCfg)
	pcfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	pclient, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return fmt.Errorf("build preflight client: %w", err)
	}
	popts := rbac.Options{Mode: c.preflight, Registerer: reg}
	if c.platformSA != "" {
		popts.ServiceAccount = rbac.ServiceAccount{Namespace: c.platformNamespace, Name: c.platformSA}
	}
	preflight, err := rbac.NewChecker(pclient, popts)
	if err != nil {
		return err
	}
	self, err := selfUser(ctx, client)
	if err != nil {
		// Without it the webhook still lets the controller release targets
		// nothing references; only the shutdown release in a namespace being
		// deleted needs it, and authorization asks about flinkgate like anyone.
		log.Warn("could not learn flinkgate's own user name; its own requests are checked like anyone's", zap.Error(err))
	}
	authorizer, err := buildAuthorizer(c, pclient, self, reg, log)
	if err != nil {
		return err
	}
	srv, err := webhook.NewServer(webhook.Config{
		Logger: log, Lookup: caches, Preflight: preflight, Authorizer: authorizer,
		PlatformNamespace: c.platformNamespace, Self: self, Registerer: reg,
	})
	if err != nil {
		return err
	}

	// The caches and the certificate reloader outlive the signal: they keep
	// serving admissions until the listeners have drained.
	stopping := ctx
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var draining atomic.Bool
	caches.Start(ctx)
	go func() {
		if caches.WaitForSync(ctx) {
			log.Info("caches synced", zap.Strings("namespaces", c.namespaces))
		}
	}()
	go reloader.Run(ctx)

	pm, err := protection.NewMetrics(reg)
	if err != nil {
		return err
	}
	controllerDone := make(chan struct{})
	go func() {
		defer close(controllerDone)
		runController := func(ctx context.Context) {
			err := protection.Run(ctx, protection.Config{Client: client, Meta: meta, Namespaces: c.namespaces, Settle: c.settle, Logger: log, Metrics: pm, Deployments: caches.DeploymentInformers()})
			if err != nil && ctx.Err() == nil {
				log.Error("protection controller stopped", zap.Error(err))
			}
		}
		// The controller, unlike the admissions, stops at the signal, so the
		// next replica can take the Lease without waiting for the drain.
		if !c.leaderElect {
			protection.Lead(stopping, pm, runController)
			return
		}
		protection.RunLeaderElected(stopping, client, protection.Lease{Namespace: c.leaseNamespace, Name: c.leaseName, Identity: leaseIdentity()}, pm, log, runController)
	}()

	ops := http.NewServeMux()
	ops.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ready := func() error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		if !caches.Synced() {
			return errors.New("caches have not synced yet")
		}
		if err := refusals.Err(); err != nil {
			return err
		}
		return reloader.Ready()
	}
	if err := metrics.NewReadiness(reg, ready); err != nil {
		return fmt.Errorf("register readiness gauge: %w", err)
	}
	ops.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	admit := srv.Handler()
	webhookHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// While draining, each answer closes its connection, so the API
		// server's next call dials anew and reaches a replica that stays.
		// Closing idle connections from this side instead would race a
		// request the API server is already sending (a failed admission).
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		admit.ServeHTTP(w, r)
	})
	servers := []*http.Server{
		// The API server gives up on a webhook after at most 30s; a client
		// that trickles its body must not hold a goroutine and buffer longer.
		//
		// HTTP/1.1 only: with HTTP/2 each API server multiplexes every call
		// over one connection, so behind a Service one replica would get
		// them all; it also keeps HTTP/2 rapid-reset floods (CVE-2023-44487)
		// off the port any pod can reach. A non-nil empty TLSNextProto turns
		// HTTP/2 off. It also lets a draining replica hand each connection
		// off per answer (webhookHandler).
		//
		// Each connection keeps a buffer for its review bodies
		// (webhook.ConnContext), so usual reviews allocate none.
		{Addr: c.webhookAddr, Handler: webhookGuard(clientAuth, webhookHandler, log), TLSConfig: reloader.TLSConfig(), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, ErrorLog: limitedErrorLog(log),
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, ConnContext: webhook.ConnContext, ConnState: webhookConnState},
		{Addr: c.metricsAddr, Handler: ops, ReadHeaderTimeout: 10 * time.Second},
	}
	if c.profilingAddr != "" {
		// Its own listener, so profiles are never exposed where metrics are
		// scraped; no timeouts, since a CPU profile streams for its duration.
		servers = append(servers, &http.Server{Addr: c.profilingAddr, Handler: profilingHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	limits, err := newConnLimits(c.maxConns, reg)
	if err != nil {
		return err
	}
	errc := make(chan error, len(servers))
	go func() {
		// As ListenAndServeTLS, but each connection gets a handshake budget.
		ln, err := net.Listen("tcp", c.webhookAddr)
		if err != nil {
			errc <- err
			return
		}
		errc <- servers[0].ServeTLS(handshakeBudgetListener(ln, limits), "", "")
	}()
	for _, s := range servers[1:] {
		go func() { errc <- s.ListenAndServe() }()
	}
	log.Info("flinkgate serving", zap.String("webhook_addr", c.webhookAddr), zap.String("metrics_addr", c.metricsAddr),
		zap.String("platform_namespace", c.platformNamespace), zap.Strings("namespaces", c.namespaces), zap.String("rbac_preflight", string(c.preflight)),
		zap.String("authorization", string(c.authorization)), zap.String("platform_service_account", c.platformSA),
		zap.String("self", self), zap.Bool("leader_elect", c.leaderElect), zap.Duration("protection_settle", c.settle),
		zap.String("profiling_addr", c.profilingAddr))

	select {
	case <-stopping.Done():
	case err := <-errc:
		return fmt.Errorf("listener stopped: %w", err)
	}
	// Graceful shutdown, so a rollout fails no admission: unready at once,
	// still serving while the endpoints update (connections are closed after
	// each answer, see webhookHandler), then the in-flight requests finish.
	draining.Store(true)
	log.Info("shutting down: unready, serving while the endpoints update", zap.Duration("drain", c.shutdownDrain))
	select {
	case <-time.After(c.shutdownDrain):
	case err := <-errc:
		return fmt.Errorf("listener stopped: %w", err)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), shutdownTimeout)
	defer done()
	<-controllerDone // the lease is released
	// Before the listeners close, since the release passes this webhook.
	if err := protection.ReleaseInDyingNamespaces(shutdownCtx, client, c.platformNamespace, c.namespaces, log); err != nil {
		log.Warn("releasing targets in namespaces being deleted failed", zap.Error(err))
	}
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			log.Warn("shutdown did not finish every request", zap.String("addr", s.Addr), zap.Error(err))
		}
	}
	log.Info("shut down")
	return nil
}

// profilingHandler serves net/http/pprof on a mux of its own; what the
// package registers on http.DefaultServeMux is never served.
func profilingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// buildAuthorizer returns the authorizer of --authorization, or nil for off.
// flinkgate's own identity is always allowed (it must be able to drain and
// clean up), so it asks the API server who it is.
func buildAuthorizer(c *serveConfig, client kubernetes.Interface, self string, reg prometheus.Registerer, log *zap.Logger) (authz.Authorizer, error) {
	if c.authorization == authz.ModeOff {
		return nil, nil
	}
	sar, err := authz.NewSubjectAccessReviews(client)
	if err != nil {
		return nil, err
	}
	exempt := []string{authz.NamespaceController}
	if self != "" {
		// Without it flinkgate asks about itself like anyone else.
		exempt = append(exempt, self)
	}
	log.Info("authorization on", zap.Strings("always_allowed", exempt), zap.Duration("cache_ttl", c.authzCacheTTL))
	ttl := c.authzCacheTTL
	if ttl == 0 {
		ttl = -1 // the flag's 0 means no cache; Options' 0 means the default
	}
	return authz.NewCached(sar, authz.Options{TTL: ttl, AlwaysAllowed: exempt, Registerer: reg})
}

// selfUser asks the API server who flinkgate is, so the webhook can tell
// flinkgate's own finalizer removals from anyone else's.
func selfUser(ctx context.Context, client kubernetes.Interface) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("self subject review: %w", err)
	}
	return r.Status.UserInfo.Username, nil
}

// leaseIdentity is unique per process: the host (the pod's name in a
// cluster) and a random suffix, so a restarted pod does not pass for its
// predecessor.
func leaseIdentity() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (pass --kubeconfig outside a cluster): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
