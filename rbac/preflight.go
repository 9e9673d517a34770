package rbac

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Mode is the --rbac-preflight setting: what a failed preflight does to a
// target CREATE.
type Mode string

const (
	// ModeEnforce denies the target and names the missing permissions.
	ModeEnforce Mode = "enforce"
	// ModeWarn admits the target with an admission warning.
	ModeWarn Mode = "warn"
	// ModeOff skips the check.
	ModeOff Mode = "off"
)

// ParseMode parses a --rbac-preflight value. It is strict (no trimming or case
// folding) so a typo in the chart value fails at start-up rather than silently
// weakening the check.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeEnforce, ModeWarn, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("invalid rbac preflight mode %q: want enforce, warn or off", s)
}

// String implements flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set implements flag.Value, so *Mode can be passed to flag.Var.
func (m *Mode) Set(s string) error {
	p, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// Permission is one verb on one resource.
type Permission struct{ Group, Resource, Verb string }

// String renders the permission the way kubectl names resources:
// "create apps/deployments", "get pods" (core group without prefix).
func (p Permission) String() string { return p.Verb + " " + p.resourceName() }

func (p Permission) resourceName() string {
	if p.Group == "" {
		return p.Resource
	}
	return p.Group + "/" + p.Resource
}

func comparePermissions(a, b Permission) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Verb, b.Verb))
}

// Outcome is the result of one preflight. The values are the bounded label
// values of flinkgate_rbac_preflight_total{result}.
type Outcome string

const (
	OutcomeGranted          Outcome = "granted"
	OutcomeMissing          Outcome = "missing"
	OutcomeNamespaceMissing Outcome = "namespace_missing"
	OutcomeUnavailable      Outcome = "unavailable"
	OutcomeSkipped          Outcome = "skipped"
)

var outcomes = []Outcome{OutcomeGranted, OutcomeMissing, OutcomeNamespaceMissing, OutcomeUnavailable, OutcomeSkipped}

// Result is what a preflight found for one namespace.
type Result struct {
	Outcome   Outcome
	Namespace string
	// Missing lists the permissions the API server refused, sorted by group,
	// resource and verb. Set only for OutcomeMissing.
	Missing []Permission
	// Err says what went wrong for OutcomeUnavailable (timeout, API error).
	Err error
	// Timeout is the time the check was given; Problem quotes it when the API
	// server did not answer in time.
	Timeout time.Duration
}

// remedy is the chart's answer to a missing permission (SPEC section 5).
func remedy(ns string) string {
	return fmt.Sprintf("add %q to appmanager.rbac.additionalNamespaces and run helm upgrade", ns)
}

// Problem returns "" when the check passed or was skipped, else a message for
// the user who created the target, naming what is wrong and how to fix it.
// It starts in lower case because kubectl prints it after "denied the
// request: " or "Warning: ".
func (r Result) Problem() string {
	switch r.Outcome {
	case OutcomeMissing:
		return fmt.Sprintf("the platform's ServiceAccount lacks permissions to manage Flink clusters in namespace %q: %s. To grant them, %s.",
			r.Namespace, groupPermissions(r.Missing), remedy(r.Namespace))
	case OutcomeNamespaceMissing:
		return fmt.Sprintf("namespace %q does not exist, so Flink clusters cannot run there. Create it, then %s.",
			r.Namespace, remedy(r.Namespace))
	case OutcomeUnavailable:
		prefix := fmt.Sprintf("could not check that the platform's ServiceAccount may manage Flink clusters in namespace %q: ", r.Namespace)
		switch {
		case errors.Is(r.Err, context.DeadlineExceeded) && r.Timeout > 0:
			return prefix + fmt.Sprintf("the API server did not answer the access check within %s (%v). Try again.", r.Timeout, r.Err)
		case errors.Is(r.Err, context.DeadlineExceeded):
			return prefix + fmt.Sprintf("the API server did not answer the access check in time (%v). Try again.", r.Err)
		default:
			return prefix + fmt.Sprintf("the access check failed (%v). Try again.", r.Err)
		}
	}
	return ""
}

// groupPermissions renders permissions compactly: resources that lack the
// same verbs share one clause, e.g. "create, delete on apps/deployments,
// batch/jobs; get on pods". Listing all 80 required permissions one by one
// would bury the message.
func groupPermissions(perms []Permission) string {
	var resources []string
	verbs := map[string][]string{}
	for _, p := range perms {
		name := p.resourceName()
		if _, ok := verbs[name]; !ok {
			resources = append(resources, name)
		}
		verbs[name] = append(verbs[name], p.Verb)
	}
	var verbSets []string
	byVerbs := map[string][]string{}
	for _, name := range resources {
		key := strings.Join(verbs[name], ", ")
		if _, ok := byVerbs[key]; !ok {
			verbSets = append(verbSets, key)
		}
		byVerbs[key] = append(byVerbs[key], name)
	}
	clauses := make([]string, 0, len(verbSets))
	for _, key := range verbSets {
		clauses = append(clauses, key+" on "+strings.Join(byVerbs[key], ", "))
	}
	return strings.Join(clauses, "; ")
}

// requiredPermissions expands RequiredRules into single permissions, sorted
// and without duplicates.
func requiredPermissions() []Permission {
	var perms []Permission
	for _, rule := range RequiredRules() {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					perms = append(perms, Permission{Group: g, Resource: res, Verb: v})
				}
			}
		}
	}
	slices.SortFunc(perms, comparePermissions)
	return slices.Compact(perms)
}

// Options tune a Checker. Zero values mean the defaults.
type Options struct {
	// Timeout bounds the whole check (default 2s), well inside the API
	// server's webhook timeout.
	Timeout time.Duration
	// GrantedTTL is how long a fully granted namespace is remembered
	// (default 30s); a negative value disables the cache.
	GrantedTTL time.Duration
	// Registerer receives flinkgate_rbac_preflight_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for the cache; tests replace it.
	Now func() time.Time
}

const (
	defaultTimeout    = 2 * time.Second
	defaultGrantedTTL = 30 * time.Second
	// parallelism bounds concurrent access reviews: enough to finish the 80
	// reviews in a few round trips without flooding the API server.
	parallelism = 8
)

// Checker checks that flinkgate may manage Flink clusters in a namespace.
//
// It asks with SelfSubjectAccessReviews rather than SubjectAccessReviews: a
// SelfSubjectAccessReview asks about the identity flinkgate runs as (in the
// cluster, the platform's ServiceAccount) and every authenticated identity may
// create one, so the check needs no extra rights. Neither review is stored;
// flinkgate only reads, and never writes rbac.authorization.k8s.io objects.
// Run outside the cluster, the check is about the kubeconfig's user instead.
//
// A Checker is safe for concurrent use.
type Checker struct {
	client  kubernetes.Interface
	timeout time.Duration
	ttl     time.Duration
	now     func() time.Time
	total   *prometheus.CounterVec
	perms   []Permission

	mu       sync.Mutex
	granted  map[string]time.Time // namespace -> expiry of its granted result
	inflight map[string]*call     // namespace -> the check running for it
	// onJoin, if set, is called (under mu) when a Check joins a running
	// check; tests use it to know callers overlap without sleeping.
	onJoin func()
}

// call is one check shared by all concurrent Checks of a namespace.
type call struct {
	done chan struct{} // closed when res is set
	res  Result
}

// NewChecker returns a Checker that talks to client and registers
// flinkgate_rbac_preflight_total with opts.Registerer.
func NewChecker(client kubernetes.Interface, opts Options) (*Checker, error) {
	if client == nil {
		return nil, errors.New("rbac preflight: nil kubernetes client")
	}
	c := &Checker{
		client:   client,
		timeout:  cmp.Or(opts.Timeout, defaultTimeout),
		ttl:      cmp.Or(opts.GrantedTTL, defaultGrantedTTL),
		now:      opts.Now,
		perms:    requiredPermissions(),
		granted:  map[string]time.Time{},
		inflight: map[string]*call{},
	}
	if c.timeout < 0 {
		c.timeout = defaultTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
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

// Skip returns the skipped result for namespace and counts it, for
// --rbac-preflight=off, so the metric shows that checks are being skipped.
func (c *Checker) Skip(namespace string) Result {
	c.total.WithLabelValues(string(OutcomeSkipped)).Inc()
	return Result{Outcome: OutcomeSkipped, Namespace: namespace}
}

// Check reports whether flinkgate may perform every verb of RequiredRules in
// namespace. It returns within Options.Timeout, or sooner if ctx ends.
//
// A granted result is cached for Options.GrantedTTL so a burst of target
// creations does not flood the API server; any other result is not, so a
// fixed Role takes effect on the next try. Concurrent Checks of one namespace
// share a single check.
func (c *Checker) Check(ctx context.Context, namespace string) Result {
	res := c.check(ctx, namespace)
	c.total.WithLabelValues(string(res.Outcome)).Inc()
	return res
}

func (c *Checker) check(ctx context.Context, ns string) Result {
	c.mu.Lock()
	if expiry, ok := c.granted[ns]; ok && c.now().Before(expiry) {
		c.mu.Unlock()
		return Result{Outcome: OutcomeGranted, Namespace: ns}
	}
	cl, running := c.inflight[ns]
	if running {
		if c.onJoin != nil {
			c.onJoin()
		}
	} else {
		cl = &call{done: make(chan struct{})}
		c.inflight[ns] = cl
		// The shared check must not die with the first caller's request,
		// so it runs detached from ctx's cancellation, bounded by c.timeout.
		go c.run(context.WithoutCancel(ctx), ns, cl)
	}
	c.mu.Unlock()

	select {
	case <-cl.done:
		res := cl.res
		res.Missing = slices.Clone(res.Missing) // callers may not share a slice
		return res
	case <-ctx.Done():
		return Result{
			Outcome:   OutcomeUnavailable,
			Namespace: ns,
			Err:       fmt.Errorf("waiting for the access check: %w", context.Cause(ctx)),
		}
	}
}

// run performs the check for cl and publishes its result.
func (c *Checker) run(ctx context.Context, ns string, cl *call) {
	res := c.review(ctx, ns)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inflight, ns)
	if res.Outcome == OutcomeGranted && c.ttl > 0 {
		now := c.now()
		for n, expiry := range c.granted { // keep the map as small as the set of live namespaces
			if !now.Before(expiry) {
				delete(c.granted, n)
			}
		}
		c.granted[ns] = now.Add(c.ttl)
	} else {
		delete(c.granted, ns)
	}
	cl.res = res
	close(cl.done)
}

// answer is the outcome of one access review.
type answer struct {
	perm    Permission
	allowed bool
	err     error
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
	defer cancel() // also stops the remaining reviews after an early return

	// Both channels are buffered so workers never block on a Check that
	// has already returned.
	nsDone := make(chan error, 1)
	go func() {
		_, err := c.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		nsDone <- err
	}()
	jobs := make(chan Permission, len(c.perms))
	for _, p := range c.perms {
		jobs <- p
	}
	close(jobs)
	answers := make(chan answer, len(c.perms))
	for range min(parallelism, len(c.perms)) {
		go func() {
			for p := range jobs {
				if err := ctx.Err(); err != nil {
					answers <- answer{perm: p, err: err}
					continue
				}
				allowed, err := c.access(ctx, ns, p)
				answers <- answer{perm: p, allowed: allowed, err: err}
			}
		}()
	}

	var missing []Permission
	pending, nsPending := len(c.perms), true
	for pending > 0 || nsPending {
		select {
		case err := <-nsDone:
			nsPending = false
			switch {
			case err == nil:
			case apierrors.IsNotFound(err):
				return Result{Outcome: OutcomeNamespaceMissing, Namespace: ns}
			case apierrors.IsForbidden(err):
				// flinkgate may not read namespaces; the access reviews
				// still tell whether it may manage clusters there.
			case ctx.Err() != nil:
				return unavailable(fmt.Errorf("%d of %d access reviews unanswered: %w", pending, len(c.perms), ctx.Err()))
			default:
				return unavailable(fmt.Errorf("get namespace %q: %w", ns, err))
			}
		case a := <-answers:
			pending--
			switch {
			case a.err != nil && ctx.Err() != nil:
				return unavailable(fmt.Errorf("%d of %d access reviews unanswered: %w", pending+1, len(c.perms), ctx.Err()))
			case a.err != nil:
				return unavailable(fmt.Errorf("access review of %q: %w", a.perm, a.err))
			case !a.allowed:
				missing = append(missing, a.perm)
			}
		case <-ctx.Done():
			return unavailable(fmt.Errorf("%d of %d access reviews unanswered: %w", pending, len(c.perms), ctx.Err()))
		}
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, comparePermissions)
		return Result{Outcome: OutcomeMissing, Namespace: ns, Missing: missing}
	}
	return Result{Outcome: OutcomeGranted, Namespace: ns}
}

// access asks whether flinkgate may perform p in ns.
func (c *Checker) access(ctx context.Context, ns string, p Permission) (bool, error) {
	review, err := c.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns,
				Verb:      p.Verb,
				Group:     p.Group,
				Resource:  p.Resource,
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	// Denied is an explicit refusal; Allowed false without it means no
	// authorizer granted the verb. Either way the permission is missing.
	return review.Status.Allowed && !review.Status.Denied, nil
}
