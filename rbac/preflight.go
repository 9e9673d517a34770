package rbac

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/internal/memo"
)

// ServiceAccount names the platform's ServiceAccount, the identity the
// preflight asks about.
type ServiceAccount struct{ Namespace, Name string }

// User is the name the API server gives the ServiceAccount.
func (sa ServiceAccount) User() string {
	return "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
}

// Groups are the groups the API server puts every token of the
// ServiceAccount in; RBAC bindings to them count.
func (sa ServiceAccount) Groups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.Namespace, "system:authenticated"}
}

// Options tune a Checker. Zero values mean the defaults.
type Options struct {
	// Mode is the --rbac-preflight setting. With ModeOff, Check only counts
	// the skip. Empty means ModeEnforce.
	Mode Mode
	// ServiceAccount is the platform's ServiceAccount, asked about with
	// SubjectAccessReviews. Empty means flinkgate's own identity, asked
	// about with SelfSubjectAccessReviews (for flinkgate running as the
	// platform's account, e.g. outside a cluster).
	ServiceAccount ServiceAccount
	// Timeout bounds the whole check (default 2s), well inside the API
	// server's webhook timeout.
	Timeout time.Duration
	// GrantedTTL is how long a fully granted namespace is remembered
	// (default 30s); a negative value disables the cache.
	GrantedTTL time.Duration
	// RefusedTTL is how long a refusal (missing permissions, missing
	// namespace) is remembered (default 2s): a burst of retries costs one
	// check, and a fixed Role still takes effect on the next deliberate try.
	// A negative value disables it. Unanswered checks are never remembered.
	RefusedTTL time.Duration
	// Registerer receives flinkgate_rbac_preflight_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for the cache; tests replace it.
	Now func() time.Time
	// FlinkOperator is --flink-operator=on: the platform also needs
	// FlinkRules, since flinkgate writes FlinkDeployments as the platform.
	FlinkOperator bool
}

const (
	defaultTimeout    = 2 * time.Second
	defaultGrantedTTL = 30 * time.Second
	// DefaultRefusedTTL is how long a refusal is remembered when
	// Options.RefusedTTL is zero (tests that wait out a refusal name it).
	DefaultRefusedTTL = 2 * time.Second
	// maxRemembered bounds the namespaces whose result is remembered: target
	// namespaces are whatever target writers name.
	maxRemembered = 10000
	// parallelism bounds concurrent access reviews of one check: enough to
	// finish the 80 reviews (91 with the Flink operator's) in a few round
	// trips without flooding the API server. A namespace has at most one
	// check running at a time.
	parallelism = 8
)

// MaxChecksInFlight bounds the namespaces one replica checks at once, so at
// most MaxChecksInFlight × 9 requests (the namespace read and 8 access
// reviews) are in flight. Any pod that reaches the webhook port can post
// target creations naming fresh namespaces, each a check no cache answers;
// without a bound each would add 9 requests on the API server at once.
// Beyond it checks wait for a slot, within their timeout.
const MaxChecksInFlight = 4

// Checker checks that the platform's ServiceAccount may manage Flink
// clusters in a namespace.
//
// It asks with SubjectAccessReviews about the platform's ServiceAccount
// (Options.ServiceAccount), so flinkgate itself can run under a separate,
// least-privilege account that holds none of those permissions. Reviews are
// not stored; flinkgate never writes rbac.authorization.k8s.io objects.
//
// A Checker is safe for concurrent use.
type Checker struct {
	client     kubernetes.Interface
	mode       Mode
	sa         ServiceAccount
	timeout    time.Duration
	grantedTTL time.Duration
	refusedTTL time.Duration
	now        func() time.Time
	total      *prometheus.CounterVec
	perms      []Permission

	recent *memo.Memo[Result]  // by namespace
	slots  *semaphore.Weighted // MaxChecksInFlight
	// flightJoined, if set, is called once a Check has joined or started
	// the shared check of its namespace; tests use it to know callers
	// overlap without sleeping.
	flightJoined func()
}

// NewChecker returns a Checker that talks to client and registers
// flinkgate_rbac_preflight_total with opts.Registerer.
func NewChecker(client kubernetes.Interface, opts Options) (*Checker, error) {
	if client == nil {
		return nil, errors.New("rbac preflight: nil kubernetes client")
	}
	mode := cmp.Or(opts.Mode, ModeEnforce)
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	if (opts.ServiceAccount.Namespace == "") != (opts.ServiceAccount.Name == "") {
		return nil, fmt.Errorf("rbac preflight: service account %q/%q needs both a namespace and a name", opts.ServiceAccount.Namespace, opts.ServiceAccount.Name)
	}
	c := &Checker{
		client:     client,
		mode:       mode,
		sa:         opts.ServiceAccount,
		timeout:    cmp.Or(opts.Timeout, defaultTimeout),
		grantedTTL: cmp.Or(opts.GrantedTTL, defaultGrantedTTL),
		refusedTTL: cmp.Or(opts.RefusedTTL, DefaultRefusedTTL),
		now:        opts.Now,
		perms:      requiredPermissions(opts.FlinkOperator),
	}
	if c.timeout < 0 {
		c.timeout = defaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.slots = semaphore.NewWeighted(MaxChecksInFlight)
	c.recent = memo.New(memo.Options[Result]{
		TTL:     c.keepFor,
		Timeout: c.timeout,
		Max:     maxRemembered,
		Now:     c.now,
		Joined: func() {
			if c.flightJoined != nil {
				c.flightJoined()
			}
		},
	})
	c.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flinkgate_rbac_preflight_total",
		Help: "RBAC preflight checks of deployment target namespaces, by result.",
	}, []string{"result"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(c.total); err != nil {
			// A second Checker on the same registry shares the counter.
			are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
			if !ok {
				return nil, fmt.Errorf("register rbac preflight metric: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register rbac preflight metric: %w", err)
			}
			c.total = existing
		}
	}
	// Export every result at zero so rate() and alerts work before the first
	// failure.
	for _, o := range outcomes {
		c.total.WithLabelValues(string(o))
	}
	return c, nil
}

// Mode is the mode the Checker was built with.
func (c *Checker) Mode() Mode { return c.mode }

// Check reports whether the platform may perform every verb of
// RequiredRules (and FlinkRules with Options.FlinkOperator) in namespace, or OutcomeSkipped in ModeOff. It returns
// within Options.Timeout, or sooner if ctx ends. Every call is counted once.
//
// A granted result is remembered for Options.GrantedTTL and a refusal for
// Options.RefusedTTL, so a burst of target creations does not flood the API
// server; concurrent Checks of one namespace share a single check.
func (c *Checker) Check(ctx context.Context, namespace string) Result {
	res := c.check(ctx, namespace)
	c.total.WithLabelValues(string(res.Outcome)).Inc()
	return res
}

func (c *Checker) check(ctx context.Context, ns string) Result {
	if c.mode == ModeOff {
		return Result{Outcome: OutcomeSkipped, Namespace: ns}
	}
	if res, ok := c.recent.Recall(ns); ok {
		return res.clone()
	}
	res, err := c.recent.Ask(ctx, ns, func(qctx context.Context) (Result, error) {
		if err := c.slots.Acquire(qctx, 1); err != nil {
			return Result{}, fmt.Errorf("waiting for one of %d checks in flight: %w", MaxChecksInFlight, err)
		}
		defer c.slots.Release(1)
		return c.review(qctx, ns), nil
	})
	if err != nil {
		return Result{
			Outcome:   OutcomeUnavailable,
			Namespace: ns,
			Err:       fmt.Errorf("waiting for the access check: %w", err),
		}
	}
	return res.clone()
}

// clone copies the result so callers never share a slice.
func (r Result) clone() Result {
	r.Missing = slices.Clone(r.Missing)
	return r
}

// keepFor says how long a result is remembered; unanswered checks are
// forgotten.
func (c *Checker) keepFor(res Result, _ error) time.Duration {
	switch res.Outcome {
	case OutcomeGranted:
		return c.grantedTTL
	case OutcomeMissing, OutcomeNamespaceMissing:
		return c.refusedTTL
	}
	return 0
}

// review asks the API server about every required permission in ns, and
// whether ns exists, concurrently under c.timeout.
func (c *Checker) review(parent context.Context, ns string) Result {
	unavailable := func(err error) Result {
		return Result{Outcome: OutcomeUnavailable, Namespace: ns, Err: err, Timeout: c.timeout}
	}
	if ns == "" {
		// An empty namespace would turn every review into a cluster-wide one.
		return unavailable(errors.New("no namespace to check"))
	}
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()

	// errNamespaceMissing ends the group early: no review matters then.
	errNamespaceMissing := errors.New("namespace missing")
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelism + 1)
	g.Go(func() error {
		_, err := c.client.CoreV1().Namespaces().Get(gctx, ns, metav1.GetOptions{})
		switch {
		case err == nil, apierrors.IsForbidden(err):
			// A flinkgate that may not read namespaces still learns from
			// the access reviews whether it may manage clusters there.
			return nil
		case apierrors.IsNotFound(err):
			return errNamespaceMissing
		}
		return fmt.Errorf("get namespace %q: %w", ns, err)
	})
	allowed := make([]bool, len(c.perms))
	var answered atomic.Int64
	// The reviews are started and awaited in a goroutine, so a client that
	// ignores its context cannot hold the check past c.timeout.
	done := make(chan error, 1)
	go func() {
		for i, p := range c.perms {
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err // an earlier review failed, or time is up
				}
				ok, err := c.access(gctx, ns, p)
				if err != nil {
					return fmt.Errorf("access review of %q: %w", p, err)
				}
				allowed[i] = ok
				answered.Add(1)
				return nil
			})
		}
		done <- g.Wait()
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	switch {
	case errors.Is(err, errNamespaceMissing):
		return Result{Outcome: OutcomeNamespaceMissing, Namespace: ns}
	case ctx.Err() != nil:
		// Whatever failed first, the check ran out of time.
		return unavailable(fmt.Errorf("%d of %d access reviews unanswered: %w", len(c.perms)-int(answered.Load()), len(c.perms), ctx.Err()))
	case err != nil:
		return unavailable(err)
	}
	var missing []Permission
	for i, p := range c.perms {
		if !allowed[i] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return Result{Outcome: OutcomeMissing, Namespace: ns, Missing: missing} // c.perms is sorted
	}
	return Result{Outcome: OutcomeGranted, Namespace: ns}
}

// access asks whether the platform may perform p in ns.
func (c *Checker) access(ctx context.Context, ns string, p Permission) (bool, error) {
	attrs := p.Attributes(ns)
	var status authorizationv1.SubjectAccessReviewStatus
	if c.sa.Name == "" {
		review, err := c.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		status = review.Status
	} else {
		review, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: c.sa.User(), Groups: c.sa.Groups(), ResourceAttributes: attrs},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		status = review.Status
	}
	// Denied is an explicit refusal; Allowed false without it means no
	// authorizer granted the verb. Either way the permission is missing.
	return status.Allowed && !status.Denied, nil
}
