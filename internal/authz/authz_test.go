// This file is over 400 lines because it is the authorizer's table tests: the checks a request
// needs, caching, coalescing and bounds.

package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"flinkgate.io/flinkgate/internal/enumflag/enumflagtest"
	"flinkgate.io/flinkgate/internal/resource"
)

func TestRequired(t *testing.T) {
	const (
		target = resource.KindTarget
		dep    = resource.KindDeployment
	)
	tests := []struct {
		name string
		in   Request
		want []Check
	}{
		{name: "Creating a target needs create on deploymenttargets.",
			in:   Request{Operation: "CREATE", Kind: target, Name: "staging"},
			want: []Check{{VerbCreate, ResourceTargets, ""}}},
		{name: "Labelling a plain ConfigMap as a target creates a target, so it needs create.",
			in:   Request{Operation: "UPDATE", Kind: target, Name: "staging"},
			want: []Check{{VerbCreate, ResourceTargets, ""}}},
		{name: "Updating a target, spec or metadata, needs update on that target.",
			in:   Request{Operation: "UPDATE", Kind: target, OldKind: target, Name: "staging"},
			want: []Check{{VerbUpdate, ResourceTargets, "staging"}}},
		{name: "Deleting a target needs delete on that target.",
			in:   Request{Operation: "DELETE", Kind: target, Name: "staging"},
			want: []Check{{VerbDelete, ResourceTargets, "staging"}}},
		{name: "Creating a deployment needs create on deployments and use of its target.",
			in:   Request{Operation: "CREATE", Kind: dep, Name: "job", NewTarget: "production"},
			want: []Check{{VerbCreate, ResourceDeployments, ""}, {VerbUse, ResourceTargets, "production"}}},
		{name: "Creating a deployment without a readable target name needs only create; the policy denies it as invalid.",
			in:   Request{Operation: "CREATE", Kind: dep, Name: "job"},
			want: []Check{{VerbCreate, ResourceDeployments, ""}}},
		{name: "Updating only a deployment's metadata, keeping its document and target, needs update on that deployment only.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "staging"},
			want: []Check{{VerbUpdate, ResourceDeployments, "job"}}},
		{name: "Updating a deployment's document while keeping its target needs update on it and use of that target, since the document runs there.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "production", NewTarget: "production", DocumentChanged: true},
			want: []Check{{VerbUpdate, ResourceDeployments, "job"}, {VerbUse, ResourceTargets, "production"}}},
		{name: "Updating a deployment to another target needs update on it and use of the new target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "production", DocumentChanged: true},
			want: []Check{{VerbUpdate, ResourceDeployments, "job"}, {VerbUse, ResourceTargets, "production"}}},
		{name: "Updating a deployment whose target label disagrees with its unchanged document needs use of the document's target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "production"},
			want: []Check{{VerbUpdate, ResourceDeployments, "job"}, {VerbUse, ResourceTargets, "production"}}},
		{name: "Updating a deployment that had no target to one needs use of the target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", NewTarget: "production"},
			want: []Check{{VerbUpdate, ResourceDeployments, "job"}, {VerbUse, ResourceTargets, "production"}}},
		{name: "Labelling a plain ConfigMap as a deployment creates one, so it needs create and use.",
			in:   Request{Operation: "UPDATE", Kind: dep, Name: "job", NewTarget: "staging"},
			want: []Check{{VerbCreate, ResourceDeployments, ""}, {VerbUse, ResourceTargets, "staging"}}},
		{name: "Deleting a deployment needs delete on that deployment.",
			in:   Request{Operation: "DELETE", Kind: dep, Name: "job", OldTarget: "staging"},
			want: []Check{{VerbDelete, ResourceDeployments, "job"}}},
		{name: "A ConfigMap of no flinkgate kind needs nothing.",
			in:   Request{Operation: "CREATE", Kind: "Job", Name: "x"},
			want: nil},
		{name: "A CONNECT needs nothing.",
			in:   Request{Operation: "CONNECT", Kind: dep, Name: "x"},
			want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Required(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Required(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	enumflagtest.Words(t, ParseMode, ModeRBAC, ModeOff)
}

func TestSubjectAccessReviewsAskAboutTheRequestingUser(t *testing.T) {
	tests := []struct {
		name   string
		status authorizationv1.SubjectAccessReviewStatus
		apiErr error
		want   bool
		err    string
	}{
		{name: "An allowed review allows.", status: authorizationv1.SubjectAccessReviewStatus{Allowed: true}, want: true},
		{name: "A review that is not allowed refuses.", status: authorizationv1.SubjectAccessReviewStatus{}, want: false},
		{name: "An explicitly denied review refuses even if marked allowed.", status: authorizationv1.SubjectAccessReviewStatus{Allowed: true, Denied: true}, want: false},
		{name: "A refusal with an evaluation error is no answer.", status: authorizationv1.SubjectAccessReviewStatus{EvaluationError: "webhook authorizer timed out"}, err: "webhook authorizer timed out"},
		{name: "An API error is no answer.", apiErr: apierrors.NewServiceUnavailable("etcd is down"), err: "etcd is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			var got *authorizationv1.SubjectAccessReview
			client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
				got = action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
				if tt.apiErr != nil {
					return true, nil, tt.apiErr
				}
				out := got.DeepCopy()
				out.Status = tt.status
				return true, out, nil
			})
			s, err := NewSubjectAccessReviews(client)
			if err != nil {
				t.Fatal(err)
			}
			a := Attributes{
				User:      User{Name: "alice", UID: "u-1", Groups: []string{"team-a", "system:authenticated"}, Extra: map[string][]string{"scopes": {"x"}}},
				Namespace: "flink-platform",
				Check:     Check{VerbUse, ResourceTargets, "production"},
			}
			allowed, err := s.Allowed(t.Context(), a)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
			} else if err != nil || allowed != tt.want {
				t.Fatalf("Allowed = %v, %v; want %v", allowed, err, tt.want)
			}
			spec := got.Spec
			ra := spec.ResourceAttributes
			if spec.User != "alice" || spec.UID != "u-1" || !slices.Equal(spec.Groups, a.User.Groups) || !slices.Equal([]string(spec.Extra["scopes"]), []string{"x"}) {
				t.Errorf("review asks about %+v, want the requesting user", spec)
			}
			if ra == nil || *ra != (authorizationv1.ResourceAttributes{Namespace: "flink-platform", Verb: "use", Group: "flinkgate.io", Resource: "deploymenttargets", Name: "production"}) {
				t.Errorf("review asks about %+v", ra)
			}
		})
	}
}

var (
	alice = User{Name: "alice", Groups: []string{"team-a", "system:authenticated"}}
	use   = Check{VerbUse, ResourceTargets, "staging"}
)

func ask(ns string, u User, c Check) Attributes { return Attributes{User: u, Namespace: ns, Check: c} }

func TestCachedAnswers(t *testing.T) {
	tests := []struct {
		name string
		// first and second are asked in turn, advance apart; grant decides
		// whether the fake allows alice's use of staging.
		first, second Attributes
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
			first: ask("ns", alice, use), second: ask("ns", alice, Check{VerbUse, ResourceTargets, "production"}), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with other groups is another question.",
			first: ask("ns", alice, use), second: ask("ns", User{Name: "alice", Groups: []string{"system:authenticated"}}, use), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with other extra values is another question.",
			first: ask("ns", alice, use), second: ask("ns", User{Name: "alice", Groups: alice.Groups, Extra: map[string][]string{"scopes": {"read"}}}, use), grant: true, want: false, wantAsked: 2},
		{name: "The same user name with another uid is another question.",
			first: ask("ns", alice, use), second: ask("ns", User{Name: "alice", UID: "other", Groups: alice.Groups}, use), grant: true, want: false, wantAsked: 2},
		{name: "Groups whose joined names coincide are different questions.",
			first:  ask("ns", User{Name: "alice", Groups: []string{"a", "b"}}, use),
			second: ask("ns", User{Name: "alice", Groups: []string{"a\x00b"}}, use), grant: true, want: false, wantAsked: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fake{Err: tt.fail}
			if tt.grant {
				f.Grant(tt.first.User.Name, tt.first.Namespace, tt.first.Check)
			}
			clock := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			c, err := NewCached(f, Options{TTL: 5 * time.Second, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Allowed(t.Context(), tt.first); (err != nil) != (tt.fail != nil) {
				t.Fatalf("first: err = %v", err)
			}
			// Make the fake's answer for the second question differ from
			// the first whenever they are different questions.
			if tt.grant && cacheKey(tt.first) != cacheKey(tt.second) {
				f.mu.Lock()
				f.grant = nil
				f.mu.Unlock()
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
	for _, user := range []string{"system:serviceaccount:flink-platform:flinkgate-webhook", NamespaceController} {
		t.Run(fmt.Sprintf("%s is allowed without a question.", user), func(t *testing.T) {
			f := &Fake{Err: errors.New("must not be asked")}
			c, err := NewCached(f, Options{AlwaysAllowed: []string{"system:serviceaccount:flink-platform:flinkgate-webhook", NamespaceController}})
			if err != nil {
				t.Fatal(err)
			}
			allowed, err := c.Allowed(t.Context(), ask("ns", User{Name: user}, Check{VerbDelete, ResourceTargets, "staging"}))
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
	Fake
}

func (g *gated) Allowed(ctx context.Context, a Attributes) (bool, error) {
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
	c, err := NewCached(g, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	joined := make(chan struct{}, callers)
	c.flightJoined = func() { joined <- struct{}{} }
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
	c, err := NewCached(g, Options{Timeout: time.Minute})
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
	c, err := NewCached(g, Options{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allowed(t.Context(), ask("ns", alice, use)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
}

func TestTheCacheIsBounded(t *testing.T) {
	f := &Fake{}
	c, err := NewCached(f, Options{MaxEntries: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := c.Allowed(t.Context(), ask("ns", User{Name: fmt.Sprintf("user-%d", i)}, use)); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n > 100 {
		t.Errorf("%d cached answers, want at most 100", n)
	}
}

func TestMetricCountsChecksByResultAndWhetherAsked(t *testing.T) {
	f := (&Fake{}).Grant("alice", "ns", use)
	reg := prometheus.NewPedanticRegistry()
	c, err := NewCached(f, Options{Registerer: reg, AlwaysAllowed: []string{NamespaceController}})
	if err != nil {
		t.Fatal(err)
	}
	c.Allowed(t.Context(), ask("ns", alice, use))
	c.Allowed(t.Context(), ask("ns", alice, use))
	c.Allowed(t.Context(), ask("ns", User{Name: "bob"}, use))
	c.Allowed(t.Context(), ask("ns", User{Name: NamespaceController}, use))
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
	f := (&Fake{}).Grant("alice", "flink-platform", use)
	c, err := NewCached(f, Options{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	a := ask("flink-platform", User{Name: "alice", UID: "9c1f7e0e-1b1d-4a53-8f4b-3d1c3f1f2a6e",
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
	g := &gated{arrived: make(chan struct{}, MaxQuestionsInFlight+extra), release: make(chan struct{})}
	c, err := NewCached(g, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, MaxQuestionsInFlight+extra)
	for i := range MaxQuestionsInFlight + extra {
		go func() {
			_, err := c.Allowed(ctx, ask("ns", User{Name: fmt.Sprintf("user-%d", i)}, use))
			done <- err
		}()
	}
	for range MaxQuestionsInFlight {
		<-g.arrived
	}
	// The rest wait for a slot: none arrives while the first ones hold theirs.
	select {
	case <-g.arrived:
		t.Fatalf("more than %d questions reached the authorizer at once", MaxQuestionsInFlight)
	case <-time.After(100 * time.Millisecond): // a bounded look for an event that must not come
	}
	close(g.release)
	for range MaxQuestionsInFlight + extra {
		if err := <-done; err != nil {
			t.Errorf("a question failed after the slots freed: %v", err)
		}
	}
	if got := g.Asked(); got != MaxQuestionsInFlight+extra {
		t.Errorf("asked %d questions, want %d", got, MaxQuestionsInFlight+extra)
	}
}
