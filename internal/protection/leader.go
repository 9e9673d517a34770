package protection

import (
	"context"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease names the coordination.k8s.io Lease the replicas compete for.
type Lease struct {
	Namespace, Name string
	// Identity is this replica's holder identity; unique per process.
	Identity string
}

// The client-go defaults for controllers: a dead leader's lease is taken
// over within 15 s; a leader that cannot renew for 10 s stops leading.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// RunLeaderElected runs lead whenever this replica holds the lease, until ctx
// ends; lead's context ends when leadership is lost. The lease is released
// on shutdown so another replica takes over at once.
func RunLeaderElected(ctx context.Context, client kubernetes.Interface, lease Lease, m *Metrics, log *zap.Logger, lead func(context.Context)) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: lease.Namespace, Name: lease.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: lease.Identity},
	}
	log = log.With(zap.String("lease", lease.Namespace+"/"+lease.Name), zap.String("identity", lease.Identity))
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
			ReleaseOnCancel: true, Name: lease.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					log.Info("leading the protection controller")
					m.leader.Set(1)
					lead(ctx)
				},
				OnStoppedLeading: func() {
					m.leader.Set(0)
					// The gauge is the leader's word; a follower has none.
					m.dangling.Reset()
					log.Info("stopped leading the protection controller")
				},
				OnNewLeader: func(id string) { log.Info("protection controller leader", zap.String("leader", id)) },
			},
		})
	}
}

// Lead runs the controller without leader election (--leader-elect=false).
func Lead(ctx context.Context, m *Metrics, run func(context.Context)) {
	m.leader.Set(1)
	defer m.leader.Set(0)
	run(ctx)
}
