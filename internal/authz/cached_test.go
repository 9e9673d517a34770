package authz_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/authz/authztest"
)

var (
	alice = authz.User{Name: "alice", Groups: []string{"team-a", "system:authenticated"}}
	use   = authz.Check{Verb: authz.VerbUse, Group: authz.Group, Resource: authz.ResourceTargets, Name: "staging"}
)

func ask(ns string, u authz.User, c authz.Check) authz.Attributes {
	return authz.Attributes{User: u, Namespace: ns, Check: c}
}

func TestCachedAnswers(t *testing.T) {
	tests := []struct {
		name string
		// first and second are asked in turn, advance apart; grant decides
		// whether the fake allows alice's use of staging.
		first, second authz.Attributes
		grant         bool
		fail          error
		advance       time.Duration
		want          bool
		wantAsked     int
	}{
		{name: "An allowed answer is reused within the TTL.",
			first: ask("ns", alice, use), second: ask("ns", alice, use), grant: true, advance: 4 * time.Second, want: true, wantAsked: 1},
		{name: "An allowed answer is asked again once the TTL has passed.",
			first: ask("ns", alice, use), second: ask("ns", alice, use), grant: true, advance: 5 * time.Second, want: true, wantAsked: 2},
		{name: "A refusal is reused for less than a second.",
			first: ask("ns", alice, use), second: ask("ns", alice, use), advance: 999 * time.Millisecond, want: false, wantAsked: 1},
		{name: "A refusal is asked again after a second, so a new grant is seen on the next try.",
			first: ask("ns", alice, use), second: ask("ns", alice, use), advance: time.Second, want: false, wantAsked: 2},
		{name: "A failed question is never cached.",
			first: ask("ns", alice, use), second: ask("ns", alice, use), fail: errors.New("connection refused"), wantAsked: 2},
		{name: "Another namespace is another question.",
			first: ask("ns", alice, use), second: ask("other", alice, use), grant: true, want: false, wantAsked: 2},
		{name: "Another target name is another question.",
			first: ask("ns", alice, use), second: ask("ns", alice, authz.Check{Verb: authz.VerbUse, Group: authz.Group, Resource: authz.ResourceTargets, Name: "production"}), grant: true, want: false, wantAsked: 2},
		{name: "The same verb on a resource of the same name in another API group is another question.",
			first:  ask("ns", alice, authz.Check{Verb: authz.VerbCreate, Group: authz.Group, Resource: authz.ResourceDeployments}),
			second: ask("ns", alice, authz.Check{Verb: authz.VerbCreate, Group: "apps", Resource: authz.ResourceDeployments}), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with other groups is another question.",
			first: ask("ns", alice, use), second: ask("ns", authz.User{Name: "alice", Groups: []string{"system:authenticated"}}, use), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with other extra values is another question.",
			first: ask("ns", alice, use), second: ask("ns", authz.User{Name: "alice", Groups: alice.Groups, Extra: map[string][]string{"scopes": {"read"}}}, use), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with another uid is another question.",
			first: ask("ns", alice, use), second: ask("ns", authz.User{Name: "alice", UID: "other", Groups: alice.Groups}, use), grant: true, want: false, wantAsked: 2},
		{name: "Groups whose joined names coincide are different questions.",
			first:  ask("ns", authz.User{Name: "alice", Groups: []string{"a", "b"}}, use),
			second: ask("ns", authz.User{Name: "alice", Groups: []string{"a\x00b"}}, use), grant: true, want: false, wantAsked: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &authztest.Fake{Err: tt.fail}
			if tt.grant {
				f.Grant(tt.first.User.Name, tt.first.Namespace, tt.first.Check)
			}
			clock := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			c, err := authz.NewCached(f, authz.Options{TTL: 5 * time.Second, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Allowed(t.Context(), tt.first); (err != nil) != (tt.fail != nil) {
				t.Fatalf("first: err = %v", err)
			}
			// Make the fake's answer for the second question differ from
			// the first whenever they are different questions.
			if tt.grant && authz.CacheKey(tt.first) != authz.CacheKey(tt.second) {
				f.Revoke(tt.first.User.Name, tt.first.Namespace, tt.first.Check)
			}
			clock.Step(tt.advance)
			got, err := c.Allowed(t.Context(), tt.second)
			if (err != nil) != (tt.fail != nil) {
				t.Fatalf("second: err = %v", err)
			}
			if got != tt.want {
				t.Errorf("second answer %v, want %v", got, tt.want)
			}
			if f.Asked() != tt.wantAsked {
				t.Errorf("asked %d times, want %d", f.Asked(), tt.wantAsked)
			}
		})
	}
}

func TestAlwaysAllowedUsersAreNeverAsked(t *testing.T) {
	for _, user := range []string{"system:serviceaccount:flink-platform:flinkgate-webhook", authz.NamespaceController} {
		t.Run(fmt.Sprintf("%s is allowed without a question.", user), func(t *testing.T) {
			f := &authztest.Fake{Err: errors.New("must not be asked")}
			c, err := authz.NewCached(f, authz.Options{AlwaysAllowed: []string{"system:serviceaccount:flink-platform:flinkgate-webhook", authz.NamespaceController}})
			if err != nil {
				t.Fatal(err)
			}
			allowed, err := c.Allowed(t.Context(), ask("ns", authz.User{Name: user}, authz.Check{Verb: authz.VerbDelete, Resource: authz.ResourceTargets, Name: "staging"}))
			if !allowed || err != nil || f.Asked() != 0 {
				t.Errorf("Allowed = %v, %v after %d questions; want true without asking", allowed, err, f.Asked())
			}
		})
	}
}

// gated answers once released, and reports each question as it arrives.
type gated struct {
	arrived chan struct{}
	release chan struct{}
	authztest.Fake
}

func (g *gated) Allowed(ctx context.Context, a authz.Attributes) (bool, error) {
	g.arrived <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	return g.Fake.Allowed(ctx, a)
}

func TestConcurrentIdenticalQuestionsShareOneAsk(t *testing.T) {
	const callers = 5
	g := &gated{arrived: make(chan struct{}, callers), release: make(chan struct{})}
	g.Grant("alice", "ns", use)
	c, err := authz.NewCached(g, authz.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan struct{}, callers)
	authz.SetFlightJoined(c, func() { joined <- struct{}{} })
	results := make(chan bool, callers)
	for range callers {
		go func() {
			ok, _ := c.Allowed(t.Context(), ask("ns", alice, use))
			results <- ok
		}()
	}
	for range callers {
		<-joined
	}
	close(g.release)
	for range callers {
		if !<-results {
			t.Error("a caller was refused")
		}
	}
	if got := g.Asked(); got != 1 {
		t.Errorf("asked %d times, want once", got)
	}
}

func TestACallerWhoseContextEndsDoesNotCancelTheSharedQuestion(t *testing.T) {
	g := &gated{arrived: make(chan struct{}, 2), release: make(chan struct{})}
	g.Grant("alice", "ns", use)
	c, err := authz.NewCached(g, authz.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Allowed(ctx, ask("ns", alice, use))
		done <- err
	}()
	<-g.arrived
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", err)
	}
	close(g.release)
	// The next caller joins the detached question if it still runs, or
	// finds its cached answer: either way it is not asked again.
	if ok, err := c.Allowed(t.Context(), ask("ns", alice, use)); !ok || err != nil || g.Asked() != 1 {
		t.Errorf("next caller: %v, %v after %d questions; want the cached grant", ok, err, g.Asked())
	}
}

func TestAQuestionThatDoesNotAnswerInTimeFails(t *testing.T) {
	g := &gated{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(g.release)
	c, err := authz.NewCached(g, authz.Options{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allowed(t.Context(), ask("ns", alice, use)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
}

func TestTheCacheIsBounded(t *testing.T) {
	f := &authztest.Fake{}
	c, err := authz.NewCached(f, authz.Options{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := c.Allowed(t.Context(), ask("ns", authz.User{Name: fmt.Sprintf("user-%d", i)}, use)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n > 100 {
		t.Errorf("%d cached answers, want at most 100", n)
	}
}

func TestMetricCountsChecksByResultAndWhetherAsked(t *testing.T) {
	f := (&authztest.Fake{}).Grant("alice", "ns", use)
	reg := prometheus.NewPedanticRegistry()
	c, err := authz.NewCached(f, authz.Options{Registerer: reg, AlwaysAllowed: []string{authz.NamespaceController}})
	if err != nil {
		t.Fatal(err)
	}
	c.Allowed(t.Context(), ask("ns", alice, use))
	c.Allowed(t.Context(), ask("ns", alice, use))
	c.Allowed(t.Context(), ask("ns", authz.User{Name: "bob"}, use))
	c.Allowed(t.Context(), ask("ns", authz.User{Name: authz.NamespaceController}, use))
	f.Err = errors.New("down")
	c.Allowed(t.Context(), ask("other", alice, use))
	want := `
# HELP flinkgate_authorization_checks_total Authorization checks of requesting users on flinkgate.io resources, by result (allowed, denied, error, exempt) and whether the API server was asked.
# TYPE flinkgate_authorization_checks_total counter
flinkgate_authorization_checks_total{asked="false",result="allowed"} 1
flinkgate_authorization_checks_total{asked="false",result="denied"} 0
flinkgate_authorization_checks_total{asked="false",result="exempt"} 1
flinkgate_authorization_checks_total{asked="true",result="allowed"} 1
flinkgate_authorization_checks_total{asked="true",result="denied"} 1
flinkgate_authorization_checks_total{asked="true",result="error"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flinkgate_authorization_checks_total"); err != nil {
		t.Error(err)
	}
}

// BenchmarkCachedCheck is what a cached answer adds to an admission: the
// issue asks for under 5 µs.
func BenchmarkCachedCheck(b *testing.B) {
	f := (&authztest.Fake{}).Grant("alice", "flink-platform", use)
	c, err := authz.NewCached(f, authz.Options{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	a := ask("flink-platform", authz.User{Name: "alice", UID: "9c1f7e0e-1b1d-4a53-8f4b-3d1c3f1f2a6e",
		Groups: []string{"team-a", "system:authenticated"}, Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"X509SHA256=abc"}}}, use)
	ctx := context.Background()
	if ok, err := c.Allowed(ctx, a); !ok || err != nil {
		b.Fatalf("warm-up: %v, %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := c.Allowed(ctx, a); !ok {
			b.Fatal("refused")
		}
	}
	if f.Asked() != 1 {
		b.Fatalf("asked %d times; the benchmark must measure cache hits", f.Asked())
	}
}

// Any pod can post reviews naming fresh users, each a question the cache
// cannot answer; the API server must not see more of them at once than the
// bound, or a forged flood becomes a flood of access reviews on it.
func TestQuestionsInFlightAreBounded(t *testing.T) {
	const extra = 8
	// timeout is the configured bound on a question, the wait for a slot
	// included. It is the window of the check that nothing happens: the
	// questions beyond the bound wait that long for a slot and give up, and
	// the test waits for them to give up instead of choosing a window of its
	// own; had the bound not held, they would have reached the authorizer
	// within it.
	const timeout = 100 * time.Millisecond
	h := &holding{arrived: make(chan struct{}, authz.MaxQuestionsInFlight+extra), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(h.release) }) }
	t.Cleanup(release)
	c, err := authz.NewCached(h, authz.Options{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, authz.MaxQuestionsInFlight+extra)
	for i := range authz.MaxQuestionsInFlight + extra {
		go func() {
			_, err := c.Allowed(t.Context(), ask("ns", authz.User{Name: fmt.Sprintf("user-%d", i)}, use))
			done <- err
		}()
	}
	for range authz.MaxQuestionsInFlight {
		<-h.arrived
	}
	// The first questions hold their slots past the timeout; the rest wait
	// for a slot until the timeout ends them.
	for range extra {
		select {
		case <-h.arrived:
			t.Fatalf("more than %d questions reached the authorizer at once", authz.MaxQuestionsInFlight)
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a question beyond the bound ended with %v, want a timeout waiting for a slot", err)
			}
		}
	}
	release()
	for range authz.MaxQuestionsInFlight {
		if err := <-done; err != nil {
			t.Errorf("a question holding a slot failed: %v", err)
		}
	}
	if got := h.Asked(); got != authz.MaxQuestionsInFlight {
		t.Errorf("asked %d questions, want %d", got, authz.MaxQuestionsInFlight)
	}
}

// holding is an authorizer whose questions hold their slots, whatever
// their context says, until release is closed.
type holding struct {
	arrived chan struct{}
	release chan struct{}
	authztest.Fake
}

func (h *holding) Allowed(ctx context.Context, a authz.Attributes) (bool, error) {
	h.arrived <- struct{}{}
	<-h.release
	return h.Fake.Allowed(ctx, a)
}
