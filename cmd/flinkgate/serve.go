package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/cache"
	"flinkgate.io/flinkgate/internal/health"
	"flinkgate.io/flinkgate/internal/metrics"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/internal/server"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/webhook"
)

// parts is what serve builds from its configuration before it runs.
type parts struct {
	log        *zap.Logger
	reg        *prometheus.Registry
	clients    cache.Clients
	certs      certs.Source
	clientAuth *certs.ClientAuth // nil: any caller
	refusals   *health.Refusals
	caches     *cache.Cache
	self       string // flinkgate's own user name; empty when unknown
	webhook    *webhook.Server
	flink      *flinkReconciler // nil with --flink-operator=off
}

func serve(ctx context.Context, c *serveConfig) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if n := applyMemoryLimit(c.memoryLimit, c.memoryLimitRatio, os.Getenv("GOMEMLIMIT")); n > 0 {
		log.Info("go memory limit set", zap.Int64("container_limit_bytes", c.memoryLimit), zap.Int64("go_limit_bytes", n))
	}
	p, err := build(ctx, c, log)
	if err != nil {
		return err
	}
	return p.run(ctx, c)
}

func newLogger(c *serveConfig) (*zap.Logger, error) {
	zcfg := zap.NewProductionConfig()
	zcfg.Level = zap.NewAtomicLevelAt(c.logLevel)
	zcfg.Sampling = nil // every decision is logged, as SPEC section 4 asks
	log, err := zcfg.Build()
	if err != nil {
		return nil, fmt.Errorf("build logger: %w", err)
	}
	return log, nil
}

// build makes the clients, the certificate source, the caches, the checks
// and the webhook server.
func build(ctx context.Context, c *serveConfig, log *zap.Logger) (*parts, error) {
	restCfg, err := restConfig(c.kubeconfig)
	if err != nil {
		return nil, err
	}
	restCfg.UserAgent = "flinkgate"
	// The rate limit is for background work (informers, the protection
	// controller, leader election); the reads an admission waits for go
	// through the cache's live clients, which have none.
	restCfg.QPS, restCfg.Burst = 50, 100
	p := &parts{log: log, reg: prometheus.NewRegistry(), refusals: health.NewRefusals()}
	if p.clients, err = cache.ClientsFor(restCfg); err != nil {
		return nil, err
	}
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if p.certs, p.clientAuth, err = buildCertSource(c, p.clients.Client, log, p.reg); err != nil {
		return nil, err
	}
	if p.caches, err = cache.New(p.clients, c.namespaces, p.refusals); err != nil {
		return nil, err
	}
	p.reg.MustRegister(metrics.StateCollector{State: p.caches})
	if err := p.buildWebhook(ctx, c, restCfg); err != nil {
		return nil, err
	}
	if p.flink, err = p.buildFlinkReconciler(c, restCfg); err != nil {
		return nil, err
	}
	return p, nil
}

// buildCertSource is the serving certificate's source of --tls-cert-file or
// --self-tls-secret, checking callers when --webhook-client-ca-file is set.
func buildCertSource(c *serveConfig, client kubernetes.Interface, log *zap.Logger, reg prometheus.Registerer) (certs.Source, *certs.ClientAuth, error) {
	src, err := newCertSource(c, client, log, reg)
	if err != nil || c.clientCAFile == "" {
		return src, nil, err
	}
	guarded, err := certs.WithClientAuth(src, c.clientCAFile, c.clientNames, log, reg)
	if err != nil {
		return nil, nil, err
	}
	return guarded, guarded.Auth, nil
}

// buildWebhook makes the preflight, the authorizer and the webhook server.
func (p *parts) buildWebhook(ctx context.Context, c *serveConfig, restCfg *rest.Config) error {
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
	flink := flinkAdmission(c.flinkOperator, c.flinkServiceAccount, c.flinkAllowedServiceAccounts)
	popts := rbac.Options{Mode: c.preflight, Registerer: p.reg, FlinkOperator: flink.On}
	if c.platformSA != "" {
		popts.ServiceAccount = rbac.ServiceAccount{Namespace: c.platformNamespace, Name: c.platformSA}
	}
	preflight, err := rbac.NewChecker(pclient, popts)
	if err != nil {
		return err
	}
	if p.self, err = selfUser(ctx, p.clients.Client); err != nil {
		// Without it the webhook still lets the controller release targets
		// nothing references; only the shutdown release in a namespace being
		// deleted needs it, and authorization asks about flinkgate like anyone.
		p.log.Warn("could not learn flinkgate's own user name; its own requests are checked like anyone's", zap.Error(err))
	}
	authorizer, err := buildAuthorizer(c, pclient, p.self, p.reg, p.log)
	if err != nil {
		return err
	}
	p.webhook, err = webhook.NewServer(webhook.Config{
		Logger: p.log, Lookup: p.caches, Preflight: preflight, Authorizer: authorizer,
		PlatformNamespace: c.platformNamespace, Self: p.self, ProtectionSettle: c.settle, Registerer: p.reg,
		FlinkOperator: flink,
	})
	return err
}

// run starts the caches, the certificate source and the protection
// controller, and serves until stopping ends and the listeners have shut
// down in order.
func (p *parts) run(stopping context.Context, c *serveConfig) error {
	// The caches and the certificate source outlive the signal: they keep
	// serving admissions until the listeners have drained.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.caches.Start(ctx)
	go func() {
		if p.caches.WaitForSync(ctx) {
			p.log.Info("caches synced", zap.Strings("namespaces", c.namespaces))
		}
	}()
	go p.certs.Run(ctx)
	controllerDone, err := p.startController(stopping, c)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{
		WebhookAddr: c.webhookAddr, MetricsAddr: c.metricsAddr, ProfilingAddr: c.profilingAddr,
		MaxConnections: c.maxConns, Drain: c.shutdownDrain, Certs: p.certs, ClientAuth: p.clientAuth,
		// Each connection keeps a buffer for its review bodies, so usual
		// reviews allocate none.
		Webhook: p.webhook.Handler(), ConnContext: p.webhook.ConnContext, ConnState: p.webhook.ConnState,
		Ready: p.ready, Gatherer: p.reg, Registerer: p.reg, Logger: p.log,
		BeforeClose: func(ctx context.Context) {
			<-controllerDone // the lease is released
			// Before the listeners close, since the release passes this webhook.
			if err := protection.ReleaseInDyingNamespaces(ctx, p.clients.Client, c.platformNamespace, c.namespaces, p.log); err != nil {
				p.log.Warn("releasing targets in namespaces being deleted failed", zap.Error(err))
			}
			p.flink.releaseInDyingNamespaces(ctx, p.log)
		},
	})
	if err != nil {
		return err
	}
	p.logServing(c)
	return srv.Run(stopping)
}

// ready says why the caches cannot answer yet, or nil.
func (p *parts) ready() error {
	if !p.caches.Synced() {
		return errors.New("caches have not synced yet")
	}
	return p.refusals.Err()
}

// startController runs the protection controller until stopping ends: unlike
// the admissions it stops at the signal, so the next replica can take the
// Lease without waiting for the drain. The channel closes once it has.
func (p *parts) startController(stopping context.Context, c *serveConfig) (<-chan struct{}, error) {
	pm, err := protection.NewMetrics(p.reg)
	if err != nil {
		return nil, err
	}
	runController := func(ctx context.Context) {
		// The Flink reconciler shares the lease: both stop when it is lost.
		var wg sync.WaitGroup
		wg.Go(func() { p.flink.run(ctx, p.log) })
		defer wg.Wait()
		err := protection.Run(ctx, protection.Config{Client: p.clients.Client, Meta: p.clients.Meta, Namespaces: c.namespaces, Settle: c.settle,
			Logger: p.log, Metrics: pm, Deployments: p.caches.DeploymentInformers()})
		if err != nil && ctx.Err() == nil {
			p.log.Error("protection controller stopped", zap.Error(err))
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !c.leaderElect {
			protection.Lead(stopping, pm, runController)
			return
		}
		lease := protection.Lease{Namespace: c.leaseNamespace, Name: c.leaseName, Identity: leaseIdentity()}
		protection.RunLeaderElected(stopping, p.clients.Client, lease, pm, p.log, runController)
	}()
	return done, nil
}

func (p *parts) logServing(c *serveConfig) {
	p.log.Info("flinkgate serving", append([]zap.Field{zap.String("webhook_addr", c.webhookAddr), zap.String("metrics_addr", c.metricsAddr),
		zap.String("platform_namespace", c.platformNamespace), zap.Strings("namespaces", c.namespaces), zap.String("rbac_preflight", string(c.preflight)),
		zap.String("authorization", string(c.authorization)), zap.String("platform_service_account", c.platformSA),
		zap.String("self", p.self), zap.Bool("leader_elect", c.leaderElect), zap.Duration("protection_settle", c.settle),
		zap.String("profiling_addr", c.profilingAddr)}, p.flink.logFields(c)...)...)
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
