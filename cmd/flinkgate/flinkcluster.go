package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"flinkgate.io/flinkgate/internal/flinkcluster"
	"flinkgate.io/flinkgate/internal/flinkop"
)

// flinkReconciler is the reconciler of --flink-operator=on, built before
// the leader's lead starts it.
type flinkReconciler struct {
	cfg flinkcluster.Config
	// writer is who writes FlinkDeployments, for the log.
	writer string
}

// buildFlinkReconciler returns nil with --flink-operator=off: then nothing
// is built and no metric registered. Reads go as flinkgate; writes of
// FlinkDeployments impersonate the platform's ServiceAccount, so the
// platform's Roles in each target namespace decide, as they would for
// VVP's AppManager.
func (p *parts) buildFlinkReconciler(c *serveConfig, restCfg *rest.Config) (*flinkReconciler, error) {
	if c.flinkOperator != flinkop.ModeOn {
		return nil, nil
	}
	m, err := flinkcluster.NewMetrics(p.reg)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("build flink reconciler client: %w", err)
	}
	reader, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("build flink reconciler dynamic client: %w", err)
	}
	// Discovery calls take no context: the client's timeout bounds them.
	dcfg := rest.CopyConfig(restCfg)
	dcfg.Timeout = 15 * time.Second
	disc, err := discovery.NewDiscoveryClientForConfig(dcfg)
	if err != nil {
		return nil, fmt.Errorf("build flink reconciler discovery client: %w", err)
	}
	f := &flinkReconciler{writer: "flinkgate itself (--platform-service-account is empty)"}
	writer := reader
	if c.platformSA == "" {
		p.log.Warn("the flink reconciler writes FlinkDeployments as flinkgate itself: --platform-service-account is empty, so the platform's Roles in the target namespaces are not what decides")
	} else {
		wcfg := rest.CopyConfig(restCfg)
		f.writer = "system:serviceaccount:" + c.platformNamespace + ":" + c.platformSA
		wcfg.Impersonate = rest.ImpersonationConfig{UserName: f.writer}
		if writer, err = dynamic.NewForConfig(wcfg); err != nil {
			return nil, fmt.Errorf("build impersonating dynamic client: %w", err)
		}
	}
	f.cfg = flinkcluster.Config{
		Client: client, Dynamic: reader, Writer: writer, Discovery: disc, Targets: p.caches,
		Namespaces: c.namespaces, PlatformNamespace: c.platformNamespace, FlinkServiceAccount: c.flinkServiceAccount,
		FlinkAllowedServiceAccounts: c.flinkAllowedServiceAccounts,
		Logger:                      p.log, Metrics: m,
	}
	return f, nil
}

// run runs the reconciler for as long as ctx (the lease) lasts.
func (f *flinkReconciler) run(ctx context.Context, log *zap.Logger) {
	if f == nil {
		return
	}
	if err := flinkcluster.Run(ctx, f.cfg); err != nil && ctx.Err() == nil {
		log.Error("flink reconciler stopped", zap.Error(err))
	}
}

// releaseInDyingNamespaces, on shutdown, releases the Deployments of
// namespaces being deleted with the platform namespace (deleting their
// FlinkDeployments first, best effort), as the protection controller
// releases targets: no flinkgate will be left to remove the finalizer.
func (f *flinkReconciler) releaseInDyingNamespaces(ctx context.Context, log *zap.Logger) {
	if f == nil {
		return
	}
	if err := flinkcluster.ReleaseInDyingNamespaces(ctx, f.cfg); err != nil {
		log.Warn("releasing deployments in namespaces being deleted failed", zap.Error(err))
	}
}

// logFields are the reconciler's settings in the "flinkgate serving" line.
func (f *flinkReconciler) logFields(c *serveConfig) []zap.Field {
	fields := []zap.Field{zap.String("flink_operator", string(c.flinkOperator))}
	if f != nil {
		fields = append(fields, zap.String("flink_service_account", c.flinkServiceAccount), zap.String("flink_writer", f.writer))
	}
	return fields
}
