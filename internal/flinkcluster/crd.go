package flinkcluster

import (
	"context"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// served asks discovery whether the API server serves FlinkDeployments and
// FlinkStateSnapshots.
func (r *reconciler) served(ctx context.Context) (deployments, snapshots bool, err error) {
	type answer struct {
		deployments, snapshots bool
		err                    error
	}
	// Discovery takes no context; the client's own timeout ends the call,
	// and ctx ends the wait for it.
	ch := make(chan answer, 1)
	go func() {
		var a answer
		res, err := r.cfg.Discovery.ServerResourcesForGroupVersion(FlinkDeployments.GroupVersion().String())
		if err != nil {
			a.err = err
		} else {
			for _, x := range res.APIResources {
				a.deployments = a.deployments || x.Name == FlinkDeployments.Resource
				a.snapshots = a.snapshots || x.Name == FlinkStateSnapshots.Resource
			}
		}
		ch <- a
	}()
	select {
	case a := <-ch:
		return a.deployments, a.snapshots, a.err
	case <-ctx.Done():
		return false, false, ctx.Err()
	}
}

// waitForCRD polls discovery every CRDPoll until FlinkDeployments are
// served, with the gauge at 1 and one log line meanwhile; each poll that
// says they do not exist releases the Deployments being deleted. It reports
// whether FlinkStateSnapshots are served too; ok is false when ctx ended.
func (r *reconciler) waitForCRD(ctx context.Context) (snapshots, ok bool) {
	t := time.NewTicker(r.cfg.CRDPoll)
	defer t.Stop()
	waiting := false
	for {
		deployments, snapshots, err := r.served(ctx)
		if deployments {
			r.cfg.Metrics.crdMissing.Set(0)
			if waiting {
				r.log.Info("the FlinkDeployment CRD is served; reconciling")
			}
			return snapshots, true
		}
		r.cfg.Metrics.crdMissing.Set(1)
		if notServed(deployments, err) {
			r.releaseUnserved(ctx)
		}
		if !waiting {
			// Once: the gauge says it for as long as it lasts.
			r.log.Warn("waiting for the API server to serve flinkdeployments.flink.apache.org (install the Flink Kubernetes Operator's CRDs); deployments are not reconciled meanwhile",
				zap.Duration("poll", r.cfg.CRDPoll), zap.NamedError("discovery", err))
			waiting = true
		}
		select {
		case <-ctx.Done():
			return false, false
		case <-t.C:
		}
	}
}

// watchCRD keeps the gauge true after the start: a CRD deleted later
// makes the informers' lists fail (client-go retries them with backoff),
// and the gauge and one log line per change say why; meanwhile the
// Deployments being deleted are released. A FlinkStateSnapshot
// CRD installed after the start is watched from then on.
func (r *reconciler) watchCRD(ctx context.Context) {
	t := time.NewTicker(r.cfg.CRDPoll)
	defer t.Stop()
	missing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deployments, snapshots, err := r.served(ctx)
		if ctx.Err() != nil || (err != nil && !apierrors.IsNotFound(err)) {
			continue // unknown: the next poll tells
		}
		if snapshots && !r.snapshots.isServed() {
			r.watchSnapshots()
			r.log.Info("the FlinkStateSnapshot CRD is served; watching snapshots")
		}
		if notServed(deployments, err) {
			r.releaseUnserved(ctx)
		}
		switch {
		case !deployments && !missing:
			r.cfg.Metrics.crdMissing.Set(1)
			r.log.Warn("the API server no longer serves flinkdeployments.flink.apache.org; reconciling waits for it", zap.NamedError("discovery", err))
		case deployments && missing:
			r.cfg.Metrics.crdMissing.Set(0)
			r.log.Info("the FlinkDeployment CRD is served again")
		}
		missing = !deployments
	}
}
