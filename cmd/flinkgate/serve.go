package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
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
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"flinkgate.io/flinkgate/authz"
	"flinkgate.io/flinkgate/cache"
	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/health"
	"flinkgate.io/flinkgate/metrics"
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
	authorization     authz.Mode
	authzCacheTTL     time.Duration
	// platformSA is the platform's ServiceAccount (in the platform
	// namespace) that the preflight asks about; empty: flinkgate's own.
	platformSA    string
	shutdownDrain time.Duration
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
	fs.StringVar(&c.platformSA, "platform-service-account", "", "name of the platform's ServiceAccount in the platform namespace, which the RBAC preflight asks about (default: flinkgate's own identity)")
	fs.Var(&c.authorization, "authorization", "rbac or off: ask the API server whether the requesting user may act on flinkgate.io deploymenttargets and deployments")
	fs.DurationVar(&c.authzCacheTTL, "authorization-cache-ttl", 5*time.Second, "how long an allowed authorization answer is reused (refusals at most 1s); at most 1m")
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
	if c.certFile == "" || c.keyFile == "" {
		return nil, errors.New("--tls-cert-file and --tls-private-key-file are required")
	}
	if c.authzCacheTTL < 0 || c.authzCacheTTL > maxAuthzCacheTTL {
		return nil, fmt.Errorf("--authorization-cache-ttl=%s is out of range: want 0 to %s", c.authzCacheTTL, maxAuthzCacheTTL)
	}
	if c.platformSA != "" {
		if errs := validation.IsDNS1123Subdomain(c.platformSA); len(errs) > 0 {
			return nil, fmt.Errorf("--platform-service-account %q is not a valid ServiceAccount name: %v", c.platformSA, errs)
		}
	}
	c.namespaces = splitList(*namespaces)
	if len(c.namespaces) == 0 {
		c.namespaces = []string{c.platformNamespace}
	}
	for _, ns := range append([]string{c.platformNamespace}, c.namespaces...) {
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

	restCfg, err := restConfig(c.kubeconfig)
	if err != nil {
		return err
	}
	restCfg.UserAgent = "flinkgate"
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build metadata client: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reloader, err := certs.NewReloader(c.certFile, c.keyFile, log, reg)
	if err != nil {
		return err
	}
	refusals := health.NewRefusals()
	caches, err := cache.New(client, meta, c.namespaces, refusals)
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
	authorizer, err := buildAuthorizer(ctx, c, pclient, reg, log)
	if err != nil {
		return err
	}
	srv, err := webhook.NewServer(webhook.Config{
		Logger: log, Lookup: caches, Preflight: preflight, Authorizer: authorizer,
		PlatformNamespace: c.platformNamespace, Registerer: reg,
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
	go reloader.Run(ctx, 2*time.Second)

	ops := http.NewServeMux()
	ops.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ops.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if !caches.Synced() {
			http.Error(w, "caches have not synced yet", http.StatusServiceUnavailable)
			return
		}
		if err := refusals.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := reloader.Ready(); err != nil {
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
	// HTTP/1.1 only: an HTTP/2 connection cannot be handed off per answer
	// like this (and it spares the webhook HTTP/2's rapid-reset exposure).
	http1 := new(http.Protocols)
	http1.SetHTTP1(true)
	servers := []*http.Server{
		// The API server gives up on a webhook after at most 30s; a client
		// that trickles its body must not hold a goroutine and buffer longer.
		{Addr: c.webhookAddr, Handler: webhookHandler, TLSConfig: reloader.TLSConfig(), Protocols: http1, ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, ErrorLog: zap.NewStdLog(log)},
		{Addr: c.metricsAddr, Handler: ops, ReadHeaderTimeout: 10 * time.Second},
	}
	errc := make(chan error, len(servers))
	go func() { errc <- servers[0].ListenAndServeTLS("", "") }()
	go func() { errc <- servers[1].ListenAndServe() }()
	log.Info("flinkgate serving", zap.String("webhook_addr", c.webhookAddr), zap.String("metrics_addr", c.metricsAddr),
		zap.String("platform_namespace", c.platformNamespace), zap.Strings("namespaces", c.namespaces), zap.String("rbac_preflight", string(c.preflight)),
		zap.String("authorization", string(c.authorization)), zap.String("platform_service_account", c.platformSA))

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
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil {
			log.Warn("shutdown did not finish every request", zap.String("addr", s.Addr), zap.Error(err))
		}
	}
	log.Info("shut down")
	return nil
}

// buildAuthorizer returns the authorizer of --authorization, or nil for off.
// flinkgate's own identity is always allowed (it must be able to drain and
// clean up), so it asks the API server who it is.
func buildAuthorizer(ctx context.Context, c *serveConfig, client kubernetes.Interface, reg prometheus.Registerer, log *zap.Logger) (authz.Authorizer, error) {
	if c.authorization == authz.ModeOff {
		return nil, nil
	}
	sar, err := authz.NewSubjectAccessReviews(client)
	if err != nil {
		return nil, err
	}
	exempt := []string{authz.NamespaceController}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if review, err := client.AuthenticationV1().SelfSubjectReviews().Create(wctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
		// Not fatal: flinkgate then asks about itself like anyone else.
		log.Warn("could not learn flinkgate's own identity; its own requests will be authorized like any user's", zap.Error(err))
	} else {
		exempt = append(exempt, review.Status.UserInfo.Username)
		log.Info("authorization on", zap.Strings("always_allowed", exempt), zap.Duration("cache_ttl", c.authzCacheTTL))
	}
	ttl := c.authzCacheTTL
	if ttl == 0 {
		ttl = -1 // the flag's 0 means no cache; Options' 0 means the default
	}
	return authz.NewCached(sar, authz.Options{TTL: ttl, AlwaysAllowed: exempt, Registerer: reg})
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
