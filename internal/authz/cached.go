package authz

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"flinkgate.io/flinkgate/internal/memo"
)

// Options tune a Cached. Zero values mean the defaults.
type Options struct {
	// TTL is how long an allowed answer is reused (default 5s): a revoked
	// grant takes at most this long to bite.
	TTL time.Duration
	// DeniedTTL is how long a refusal is reused (default and at most
	// min(TTL, 1s)): long enough to absorb a burst of retries, short enough
	// that a new grant is seen on the next try.
	DeniedTTL time.Duration
	// Timeout bounds one question to the API server (default 2s), well inside
	// the API server's webhook timeout.
	Timeout time.Duration
	// MaxEntries bounds the cache (default 10000 answers); beyond it, expired
	// answers are dropped, then arbitrary ones.
	MaxEntries int
	// AlwaysAllowed are user names that are never asked about: flinkgate's
	// own identity and the namespace controller, which must be able to
	// drain and clean up.
	AlwaysAllowed []string
	// Registerer receives flinkgate_authorization_checks_total; nil
	// registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock; tests replace it.
	Now func() time.Time
}

const (
	defaultTTL        = 5 * time.Second
	maxDeniedTTL      = time.Second
	defaultTimeout    = 2 * time.Second
	defaultMaxEntries = 10000
)

// MaxQuestionsInFlight bounds the questions one replica asks the API server
// at once. Any pod that reaches the webhook port can post reviews naming
// fresh users, each a question no cache answers; without a bound a flood of
// them becomes a flood of access reviews on the API server, in a priority
// level other clients share. Beyond it questions wait for a slot, within
// their timeout. An access review takes a few milliseconds, so 32 at once
// is thousands a second.
const MaxQuestionsInFlight = 32

// Cached answers from a short-lived cache and asks next only on a miss,
// sharing one question among concurrent identical ones. It is safe for
// concurrent use.
type Cached struct {
	next      Authorizer
	ttl       time.Duration
	deniedTTL time.Duration
	timeout   time.Duration
	max       int
	exempt    map[string]bool
	now       func() time.Time
	checks    *prometheus.CounterVec
	// counted holds the series of checks by result (allowed, denied,
	// error) and whether the API server was asked, resolved once: a
	// lookup by label values hashes them under a lock on every check. The
	// error series of a cached answer is nil: a cached answer is never an
	// error.
	counted  [3][2]prometheus.Counter
	exempted prometheus.Counter

	answers *memo.Memo[bool]
	slots   *semaphore.Weighted // MaxQuestionsInFlight
	// flightJoined, if set, is called once a caller has joined or started
	// a question; tests use it to know callers overlap without sleeping.
	flightJoined func()
}

// The result label's values of flinkgate_authorization_checks_total.
const (
	resultAllowed = "allowed"
	resultDenied  = "denied"
	resultError   = "error"
	resultExempt  = "exempt"
)

// NewCached wraps next.
func NewCached(next Authorizer, opts Options) (*Cached, error) {
	if next == nil {
		return nil, errors.New("authorization: nil authorizer")
	}
	c := &Cached{
		next:    next,
		ttl:     cmp.Or(opts.TTL, defaultTTL),
		timeout: cmp.Or(opts.Timeout, defaultTimeout),
		max:     cmp.Or(opts.MaxEntries, defaultMaxEntries),
		exempt:  map[string]bool{},
		now:     opts.Now,
		slots:   semaphore.NewWeighted(MaxQuestionsInFlight),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.ttl < 0 {
		c.ttl = 0
	}
	c.deniedTTL = min(cmp.Or(opts.DeniedTTL, maxDeniedTTL), maxDeniedTTL, c.ttl)
	c.answers = memo.New(memo.Options[bool]{
		TTL: func(allowed bool, err error) time.Duration {
			switch {
			case err != nil:
				return 0
			case allowed:
				return c.ttl
			}
			return c.deniedTTL
		},
		Timeout: c.timeout,
		Max:     c.max,
		Now:     c.now,
		Joined: func() {
			if c.flightJoined != nil {
				c.flightJoined()
			}
		},
	})
	for _, u := range opts.AlwaysAllowed {
		if u != "" {
			c.exempt[u] = true
		}
	}
	c.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flinkgate_authorization_checks_total",
		Help: "Authorization checks of requesting users on flinkgate.io resources, by result (allowed, denied, error, exempt) and whether the API server was asked.",
	}, []string{"result", "asked"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(c.checks); err != nil {
			return nil, fmt.Errorf("register authorization metric: %w", err)
		}
	}
	for i, r := range []string{resultAllowed, resultDenied} {
		c.counted[i][1] = c.checks.WithLabelValues(r, "true")
		c.counted[i][0] = c.checks.WithLabelValues(r, "false")
	}
	c.counted[2][1] = c.checks.WithLabelValues(resultError, "true")
	c.exempted = c.checks.WithLabelValues(resultExempt, "false")
	return c, nil
}

// Allowed implements Authorizer.
func (c *Cached) Allowed(ctx context.Context, a Attributes) (bool, error) {
	if c.exempt[a.User.Name] {
		c.exempted.Inc()
		return true, nil
	}
	key := cacheKey(a)
	if allowed, ok := c.answers.Recall(key); ok {
		c.count(allowed, nil, false)
		return allowed, nil
	}
	allowed, err := c.answers.Ask(ctx, key, func(qctx context.Context) (bool, error) {
		if err := c.slots.Acquire(qctx, 1); err != nil {
			return false, fmt.Errorf("waiting for one of %d authorization checks in flight: %w", MaxQuestionsInFlight, err)
		}
		defer c.slots.Release(1)
		return c.next.Allowed(qctx, a)
	})
	c.count(allowed, err, true)
	if err != nil && ctx.Err() != nil {
		return false, fmt.Errorf("waiting for the authorization check: %w", err)
	}
	return allowed && err == nil, err
}

func (c *Cached) count(allowed bool, err error, asked bool) {
	result, r := resultDenied, 1
	switch {
	case err != nil:
		result, r = resultError, 2
	case allowed:
		result, r = resultAllowed, 0
	}
	a, ai := "false", 0
	if asked {
		a, ai = "true", 1
	}
	if counter := c.counted[r][ai]; counter != nil {
		counter.Inc()
		return
	}
	c.checks.WithLabelValues(result, a).Inc()
}

// Len is the number of cached answers, for tests of the bound.
func (c *Cached) Len() int { return c.answers.Len() }

// cacheKey identifies a question: everything the authorizer may decide on.
// Fields are separated by a byte that Kubernetes names cannot contain, and
// lists are length-prefixed, so distinct questions never share a key.
func cacheKey(a Attributes) string {
	var b strings.Builder
	b.Grow(96 + len(a.User.Name) + len(a.Namespace) + len(a.Check.Name))
	field := func(s string) {
		b.WriteString(s)
		b.WriteByte(0)
	}
	field(a.User.Name)
	field(a.User.UID)
	field(a.Namespace)
	field(a.Check.Verb)
	field(a.Check.Group)
	field(a.Check.Resource)
	field(a.Check.Name)
	field(strconv.Itoa(len(a.User.Groups)))
	for _, g := range a.User.Groups {
		field(g)
	}
	if len(a.User.Extra) > 0 {
		keys := make([]string, 0, len(a.User.Extra))
		for k := range a.User.Extra {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			field(k)
			field(strconv.Itoa(len(a.User.Extra[k])))
			for _, v := range a.User.Extra[k] {
				field(v)
			}
		}
	}
	return b.String()
}
