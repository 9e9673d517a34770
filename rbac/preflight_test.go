// This file is over 400 lines because it is the preflight's table tests: outcomes, messages,
// caching, coalescing and the metric.

package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"flinkgate.io/flinkgate/internal/enumflag/enumflagtest"
)

// decideFunc answers one access review: allowed, or an error for the API call.
type decideFunc func(ra authorizationv1.ResourceAttributes) (bool, error)

func allowAll(authorizationv1.ResourceAttributes) (bool, error) { return true, nil }

// denyOnly allows everything but p.
func denyOnly(p Permission) decideFunc {
	return func(ra authorizationv1.ResourceAttributes) (bool, error) {
		return permissionOf(ra) != p, nil
	}
}

// permissionOf is the permission an access review asks about, a
// subresource joined to its resource as RBAC rules write it.
func permissionOf(ra authorizationv1.ResourceAttributes) Permission {
	p := Permission{Group: ra.Group, Resource: ra.Resource, Verb: ra.Verb}
	if ra.Subresource != "" {
		p.Resource += "/" + ra.Subresource
	}
	return p
}

// fakeAPI is a fake clientset whose access reviews are answered by decide
// and counted.
type fakeAPI struct {
	client  *fake.Clientset
	reviews atomic.Int64
}

func newFakeAPI(t *testing.T, decide decideFunc, namespaces ...string) *fakeAPI {
	t.Helper()
	var objs []runtime.Object
	for _, ns := range namespaces {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	api := &fakeAPI{client: fake.NewClientset(objs...)}
	api.client.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		api.reviews.Add(1)
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		allowed, err := decide(*review.Spec.ResourceAttributes)
		if err != nil {
			return true, nil, err
		}
		review.Status.Allowed = allowed
		return true, review, nil
	})
	return api
}

func newChecker(t *testing.T, api *fakeAPI, opts Options) *Checker {
	t.Helper()
	c, err := NewChecker(api.client, opts)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	return c
}

func TestCheck(t *testing.T) {
	getPods := Permission{Resource: "pods", Verb: "get"}
	getStatus := Permission{Group: FlinkGroup, Resource: "flinkdeployments/status", Verb: "get"}
	tests := []struct {
		name       string
		decide     decideFunc
		flink      bool // Options.FlinkOperator
		namespaces []string
		setup      func(t *testing.T, api *fakeAPI)
		timeout    time.Duration
		want       Outcome
		wantMiss   []Permission
		wantErr    error  // checked with errors.Is
		wantInProb string // substring of Problem()
	}{
		{
			name:       "A namespace where every required permission is granted is granted.",
			decide:     allowAll,
			namespaces: []string{"staging"},
			want:       OutcomeGranted,
		},
		{
			name:       "A namespace where one verb is refused is missing exactly that permission, and the problem names it and the remedy.",
			decide:     denyOnly(getPods),
			namespaces: []string{"staging"},
			want:       OutcomeMissing,
			wantMiss:   []Permission{getPods},
			wantInProb: `in namespace "staging": get on pods. To grant them, add "staging" to appmanager.rbac.additionalNamespaces and run helm upgrade.`,
		},
		{
			name: "An explicitly denied review counts as missing.",
			decide: func(ra authorizationv1.ResourceAttributes) (bool, error) {
				return true, nil
			},
			namespaces: []string{"staging"},
			setup: func(t *testing.T, api *fakeAPI) {
				// Allowed and Denied together is invalid; Denied must win.
				api.client.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
					review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
					if review.Spec.ResourceAttributes.Resource != "events" || review.Spec.ResourceAttributes.Verb != "watch" {
						return false, nil, nil
					}
					review.Status.Allowed, review.Status.Denied = true, true
					return true, review, nil
				})
			},
			want:     OutcomeMissing,
			wantMiss: []Permission{{Resource: "events", Verb: "watch"}},
		},
		{
			name:       "With the Flink operator on, a namespace lacking one Flink permission is missing exactly it, and the remedy names flinkOperator.enabled.",
			decide:     denyOnly(getStatus),
			flink:      true,
			namespaces: []string{"staging"},
			want:       OutcomeMissing,
			wantMiss:   []Permission{getStatus},
			wantInProb: `in namespace "staging": get on flink.apache.org/flinkdeployments/status. To grant them, add "staging" to appmanager.rbac.additionalNamespaces and run helm upgrade with flinkOperator.enabled=true.`,
		},
		{
			name: "With the Flink operator on, a namespace with none of the Flink rules is missing each of them, named.",
			decide: func(ra authorizationv1.ResourceAttributes) (bool, error) {
				return ra.Group != FlinkGroup, nil
			},
			flink:      true,
			namespaces: []string{"staging"},
			want:       OutcomeMissing,
			wantMiss:   flinkPermissions(),
			wantInProb: `in namespace "staging": create, delete, get, list, patch, update, watch on flink.apache.org/flinkdeployments; get on flink.apache.org/flinkdeployments/status; get, list, watch on flink.apache.org/flinkstatesnapshots. To grant them,`,
		},
		{
			name: "With the Flink operator off, a namespace with none of the Flink rules is granted.",
			decide: func(ra authorizationv1.ResourceAttributes) (bool, error) {
				return ra.Group != FlinkGroup, nil
			},
			namespaces: []string{"staging"},
			want:       OutcomeGranted,
		},
		{
			name:       "A namespace that does not exist is namespace_missing.",
			decide:     allowAll,
			want:       OutcomeNamespaceMissing,
			wantInProb: `namespace "staging" does not exist`,
		},
		{
			name:   "A namespace flinkgate may not read is still judged by the access reviews.",
			decide: allowAll,
			setup: func(t *testing.T, api *fakeAPI) {
				api.client.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "staging", errors.New("no get on namespaces"))
				})
			},
			want: OutcomeGranted,
		},
		{
			name: "An access review that fails with an API error makes the result unavailable.",
			decide: func(authorizationv1.ResourceAttributes) (bool, error) {
				return false, apierrors.NewServiceUnavailable("etcd is down")
			},
			namespaces: []string{"staging"},
			want:       OutcomeUnavailable,
			wantInProb: "the access check failed (access review of ",
		},
		{
			name:       "An access review that does not answer within the timeout makes the result unavailable, and the problem says so.",
			namespaces: []string{"staging"},
			setup: func(t *testing.T, api *fakeAPI) {
				release := make(chan struct{})
				t.Cleanup(func() { close(release) })
				api.client.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
					<-release // the fake ignores contexts, so only the release ends this
					return true, nil, errors.New("released")
				})
			},
			timeout:    50 * time.Millisecond,
			want:       OutcomeUnavailable,
			wantErr:    context.DeadlineExceeded,
			wantInProb: "the API server did not answer the access check within 50ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decide := tt.decide
			if decide == nil {
				decide = allowAll
			}
			api := newFakeAPI(t, decide, tt.namespaces...)
			if tt.setup != nil {
				tt.setup(t, api)
			}
			c := newChecker(t, api, Options{Timeout: tt.timeout, FlinkOperator: tt.flink})

			got := c.Check(t.Context(), "staging")

			if got.Outcome != tt.want {
				t.Fatalf("Outcome = %q, want %q (err %v)", got.Outcome, tt.want, got.Err)
			}
			if got.Namespace != "staging" {
				t.Errorf("Namespace = %q, want staging", got.Namespace)
			}
			if !slices.Equal(got.Missing, tt.wantMiss) {
				t.Errorf("Missing = %v, want %v", got.Missing, tt.wantMiss)
			}
			if tt.wantErr != nil && !errors.Is(got.Err, tt.wantErr) {
				t.Errorf("Err = %v, want one wrapping %v", got.Err, tt.wantErr)
			}
			if (got.Err != nil) != (tt.want == OutcomeUnavailable) {
				t.Errorf("Err = %v for outcome %q", got.Err, got.Outcome)
			}
			problem := got.Problem()
			if (problem == "") != (tt.want == OutcomeGranted) {
				t.Errorf("Problem() = %q for outcome %q", problem, got.Outcome)
			}
			if !strings.Contains(problem, tt.wantInProb) {
				t.Errorf("Problem() = %q, want it to contain %q", problem, tt.wantInProb)
			}
		})
	}
}

func TestCheckAsksForEveryRequiredPermissionInTheNamespace(t *testing.T) {
	tests := []struct {
		name  string
		flink bool
		rules []rbacv1.PolicyRule
	}{
		{"With the Flink operator off, the check asks once for each permission of RequiredRules and nothing else.", false, RequiredRules()},
		{"With the Flink operator on, the check asks once for each permission of RequiredRules and FlinkRules, a subresource as the review's subresource, and nothing else.", true, append(RequiredRules(), FlinkRules()...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			asked := map[Permission]int{}
			api := newFakeAPI(t, func(ra authorizationv1.ResourceAttributes) (bool, error) {
				if ra.Namespace != "staging" {
					return false, fmt.Errorf("asked about namespace %q", ra.Namespace)
				}
				if strings.Contains(ra.Resource, "/") {
					return false, fmt.Errorf("asked about resource %q: a subresource belongs in Subresource", ra.Resource)
				}
				mu.Lock()
				defer mu.Unlock()
				asked[permissionOf(ra)]++
				return true, nil
			}, "staging")
			c := newChecker(t, api, Options{FlinkOperator: tt.flink})

			if got := c.Check(t.Context(), "staging"); got.Outcome != OutcomeGranted {
				t.Fatalf("Outcome = %q (err %v), want granted", got.Outcome, got.Err)
			}

			var want int
			for _, rule := range tt.rules {
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, v := range rule.Verbs {
							want++
							if p := (Permission{Group: g, Resource: res, Verb: v}); asked[p] != 1 {
								t.Errorf("%s asked %d times, want once", p, asked[p])
							}
						}
					}
				}
			}
			if len(asked) != want {
				t.Errorf("asked about %d permissions, want %d", len(asked), want)
			}
		})
	}
}

// flinkPermissions are FlinkRules' permissions, sorted as Missing is.
func flinkPermissions() []Permission {
	var out []Permission
	for _, p := range requiredPermissions(true) {
		if p.Group == FlinkGroup {
			out = append(out, p)
		}
	}
	return out
}

func TestCheckCache(t *testing.T) {
	perCheck := int64(len(requiredPermissions(false)))
	tests := []struct {
		name        string
		decide      decideFunc
		advance     time.Duration // between the two checks
		wantReviews int64         // over both checks; 0: the second check must ask again
	}{
		{
			name:        "A granted result is served from the cache within the TTL.",
			decide:      allowAll,
			advance:     29 * time.Second,
			wantReviews: perCheck,
		},
		{
			name:        "A granted result is checked again once the TTL has passed.",
			decide:      allowAll,
			advance:     30 * time.Second,
			wantReviews: 2 * perCheck,
		},
		{
			name:        "A missing result is remembered briefly, so a burst of retries costs one check.",
			decide:      denyOnly(Permission{Group: "apps", Resource: "deployments", Verb: "create"}),
			advance:     1999 * time.Millisecond,
			wantReviews: perCheck,
		},
		{
			name:        "A missing result is checked again after two seconds, so a fixed Role takes effect on the next try.",
			decide:      denyOnly(Permission{Group: "apps", Resource: "deployments", Verb: "create"}),
			advance:     2 * time.Second,
			wantReviews: 2 * perCheck,
		},
		{
			name: "An unanswered check is never remembered.",
			decide: func(authorizationv1.ResourceAttributes) (bool, error) {
				return false, apierrors.NewServiceUnavailable("etcd is down")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t, tt.decide, "staging")
			clock := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			c := newChecker(t, api, Options{GrantedTTL: 30 * time.Second, Now: clock.Now})

			first := c.Check(t.Context(), "staging")
			afterFirst := api.reviews.Load()
			clock.Step(tt.advance)
			second := c.Check(t.Context(), "staging")

			if first.Outcome != second.Outcome {
				t.Errorf("outcomes %q then %q, want the same", first.Outcome, second.Outcome)
			}
			got := api.reviews.Load()
			switch {
			case tt.wantReviews == 0 && got == afterFirst:
				t.Errorf("the second check asked nothing; want it to ask again")
			case tt.wantReviews != 0 && got != tt.wantReviews:
				t.Errorf("%d access reviews, want %d", got, tt.wantReviews)
			}
		})
	}
}

func TestConcurrentChecksOfANamespaceShareOneCheck(t *testing.T) {
	const callers = 5
	gate := make(chan struct{})
	api := newFakeAPI(t, func(authorizationv1.ResourceAttributes) (bool, error) {
		<-gate
		return true, nil
	}, "staging")
	c := newChecker(t, api, Options{Timeout: time.Minute})
	joined := make(chan struct{}, callers)
	c.flightJoined = func() { joined <- struct{}{} }

	results := make(chan Result, callers)
	for range callers {
		go func() { results <- c.Check(t.Context(), "staging") }()
	}
	for range callers { // each has joined or started the one check
		<-joined
	}
	close(gate)

	for range callers {
		if got := <-results; got.Outcome != OutcomeGranted {
			t.Errorf("Outcome = %q (err %v), want granted", got.Outcome, got.Err)
		}
	}
	if got, want := api.reviews.Load(), int64(len(requiredPermissions(false))); got != want {
		t.Errorf("%d access reviews, want %d (one check)", got, want)
	}
}

func TestParseMode(t *testing.T) {
	enumflagtest.Words(t, ParseMode, ModeEnforce, ModeWarn, ModeOff)
}

func TestProblem(t *testing.T) {
	tests := []struct {
		name string
		in   Result
		want string
	}{
		{
			name: "A granted result has no problem.",
			in:   Result{Outcome: OutcomeGranted, Namespace: "staging"},
			want: "",
		},
		{
			name: "A skipped result has no problem.",
			in:   Result{Outcome: OutcomeSkipped, Namespace: "staging"},
			want: "",
		},
		{
			name: "Missing permissions are grouped by resource, resources sharing their verbs in one clause, with the remedy.",
			in: Result{Outcome: OutcomeMissing, Namespace: "staging", Missing: []Permission{
				{Resource: "events", Verb: "watch"},
				{Resource: "pods", Verb: "create"},
				{Resource: "pods", Verb: "delete"},
				{Group: "apps", Resource: "deployments", Verb: "create"},
				{Group: "apps", Resource: "deployments", Verb: "delete"},
			}},
			want: `the platform's ServiceAccount lacks permissions to manage Flink clusters in namespace "staging": ` +
				`watch on events; create, delete on pods, apps/deployments. ` +
				`To grant them, add "staging" to appmanager.rbac.additionalNamespaces and run helm upgrade.`,
		},
		{
			name: "A namespace that does not exist is named, with how to create and grant it.",
			in:   Result{Outcome: OutcomeNamespaceMissing, Namespace: "staging"},
			want: `namespace "staging" does not exist, so Flink clusters cannot run there. ` +
				`Create it, then add "staging" to appmanager.rbac.additionalNamespaces and run helm upgrade.`,
		},
		{
			name: "A timeout names the time the API server had.",
			in: Result{Outcome: OutcomeUnavailable, Namespace: "staging", Timeout: 2 * time.Second,
				Err: fmt.Errorf("3 of 80 access reviews unanswered: %w", context.DeadlineExceeded)},
			want: `could not check that the platform's ServiceAccount may manage Flink clusters in namespace "staging": ` +
				`the API server did not answer the access check within 2s (3 of 80 access reviews unanswered: context deadline exceeded). Try again.`,
		},
		{
			name: "An API error is quoted.",
			in: Result{Outcome: OutcomeUnavailable, Namespace: "staging", Timeout: 2 * time.Second,
				Err: errors.New(`access review of "get pods": etcd is down`)},
			want: `could not check that the platform's ServiceAccount may manage Flink clusters in namespace "staging": ` +
				`the access check failed (access review of "get pods": etcd is down). Try again.`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Problem(); got != tt.want {
				t.Errorf("Problem() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestProblemListsEveryMissingPermissionCompactly(t *testing.T) {
	r := Result{Outcome: OutcomeMissing, Namespace: "staging", Missing: requiredPermissions(false)}
	want := `the platform's ServiceAccount lacks permissions to manage Flink clusters in namespace "staging": ` +
		`create, delete, get, list, patch, update, watch on configmaps, pods, secrets, serviceaccounts, services, apps/deployments, batch/jobs, ` +
		`coordination.k8s.io/leases, networking.k8s.io/ingresses, rbac.authorization.k8s.io/rolebindings, rbac.authorization.k8s.io/roles; ` +
		`get, list, watch on events. ` +
		`To grant them, add "staging" to appmanager.rbac.additionalNamespaces and run helm upgrade.`
	if got := r.Problem(); got != want {
		t.Errorf("Problem() =\n%s\nwant\n%s", got, want)
	}
}

func TestPermissionAttributes(t *testing.T) {
	tests := []struct {
		name string
		in   Permission
		want authorizationv1.ResourceAttributes
	}{
		{name: "A resource is asked about as itself.", in: Permission{Group: "apps", Resource: "deployments", Verb: "create"},
			want: authorizationv1.ResourceAttributes{Namespace: "staging", Group: "apps", Resource: "deployments", Verb: "create"}},
		{name: "A subresource is asked about as the review's subresource of its resource.", in: Permission{Group: FlinkGroup, Resource: "flinkdeployments/status", Verb: "get"},
			want: authorizationv1.ResourceAttributes{Namespace: "staging", Group: FlinkGroup, Resource: "flinkdeployments", Subresource: "status", Verb: "get"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := *tt.in.Attributes("staging"); got != tt.want {
				t.Errorf("Attributes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPermissionString(t *testing.T) {
	tests := []struct {
		name string
		in   Permission
		want string
	}{
		{name: "A core resource has no group prefix.", in: Permission{Resource: "pods", Verb: "get"}, want: "get pods"},
		{name: "A grouped resource is prefixed with its group.", in: Permission{Group: "apps", Resource: "deployments", Verb: "create"}, want: "create apps/deployments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMetricCountsEveryCheckByOutcome(t *testing.T) {
	api := newFakeAPI(t, func(ra authorizationv1.ResourceAttributes) (bool, error) {
		switch ra.Namespace {
		case "short":
			return ra.Verb != "delete", nil
		case "broken":
			return false, apierrors.NewServiceUnavailable("etcd is down")
		}
		return true, nil
	}, "ok", "short", "broken")
	reg := prometheus.NewPedanticRegistry()
	c := newChecker(t, api, Options{Registerer: reg})

	c.Check(t.Context(), "ok")
	c.Check(t.Context(), "ok") // from the cache, still counted
	c.Check(t.Context(), "short")
	c.Check(t.Context(), "absent")
	c.Check(t.Context(), "broken")
	off := newChecker(t, api, Options{Registerer: reg, Mode: ModeOff})
	off.Check(t.Context(), "ok")

	want := `
# HELP flinkgate_rbac_preflight_total RBAC preflight checks of deployment target namespaces, by result.
# TYPE flinkgate_rbac_preflight_total counter
flinkgate_rbac_preflight_total{result="granted"} 2
flinkgate_rbac_preflight_total{result="missing"} 1
flinkgate_rbac_preflight_total{result="namespace_missing"} 1
flinkgate_rbac_preflight_total{result="skipped"} 1
flinkgate_rbac_preflight_total{result="unavailable"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "flinkgate_rbac_preflight_total"); err != nil {
		t.Error(err)
	}
}

func TestNewCheckerExportsEveryResultAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	newChecker(t, newFakeAPI(t, allowAll), Options{Registerer: reg})

	if got, want := testutil.CollectAndCount(reg, "flinkgate_rbac_preflight_total"), len(outcomes); got != want {
		t.Errorf("%d series, want %d", got, want)
	}
}

func TestACallerWhoseContextEndsGetsUnavailableWithoutStoppingTheSharedCheck(t *testing.T) {
	gate := make(chan struct{})
	api := newFakeAPI(t, func(authorizationv1.ResourceAttributes) (bool, error) {
		<-gate
		return true, nil
	}, "staging")
	c := newChecker(t, api, Options{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	got := c.Check(ctx, "staging")
	close(gate)

	if got.Outcome != OutcomeUnavailable || !errors.Is(got.Err, context.Canceled) {
		t.Errorf("Outcome = %q, Err = %v; want unavailable wrapping context.Canceled", got.Outcome, got.Err)
	}
	// The detached check finishes and caches its grant for the next caller.
	if again := c.Check(t.Context(), "staging"); again.Outcome != OutcomeGranted {
		t.Errorf("next Check: Outcome = %q (err %v), want granted", again.Outcome, again.Err)
	}
}

func TestCheckAsksAboutThePlatformServiceAccount(t *testing.T) {
	api := newFakeAPI(t, allowAll, "staging")
	var mu sync.Mutex
	var specs []authorizationv1.SubjectAccessReviewSpec
	api.client.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		mu.Lock()
		specs = append(specs, review.Spec)
		mu.Unlock()
		review.Status.Allowed = review.Spec.ResourceAttributes.Resource != "secrets"
		return true, review, nil
	})
	c := newChecker(t, api, Options{ServiceAccount: ServiceAccount{Namespace: "flink-platform", Name: "vvp"}})

	got := c.Check(t.Context(), "staging")

	if got.Outcome != OutcomeMissing || len(got.Missing) != len(ManageVerbs) || got.Missing[0].Resource != "secrets" {
		t.Errorf("Outcome %q, Missing %v; want exactly the refused secrets verbs", got.Outcome, got.Missing)
	}
	if n := api.reviews.Load(); n != 0 {
		t.Errorf("%d self-subject access reviews; want none, the question is about the platform's account", n)
	}
	if len(specs) != len(requiredPermissions(false)) {
		t.Fatalf("%d subject access reviews, want %d", len(specs), len(requiredPermissions(false)))
	}
	wantGroups := []string{"system:serviceaccounts", "system:serviceaccounts:flink-platform", "system:authenticated"}
	for _, s := range specs {
		if s.User != "system:serviceaccount:flink-platform:vvp" || !slices.Equal(s.Groups, wantGroups) || s.ResourceAttributes.Namespace != "staging" {
			t.Fatalf("review spec %+v; want the platform's ServiceAccount and its groups in staging", s)
		}
	}
}

func TestOffModeSkipsWithoutAsking(t *testing.T) {
	api := newFakeAPI(t, allowAll, "staging")
	c := newChecker(t, api, Options{Mode: ModeOff})
	if got := c.Check(t.Context(), "staging"); got.Outcome != OutcomeSkipped || got.Problem() != "" {
		t.Errorf("Outcome %q, problem %q; want skipped without a problem", got.Outcome, got.Problem())
	}
	if n := api.reviews.Load(); n != 0 {
		t.Errorf("%d access reviews in off mode, want none", n)
	}
}

func TestNewCheckerRefusesHalfAServiceAccount(t *testing.T) {
	if _, err := NewChecker(newFakeAPI(t, allowAll).client, Options{ServiceAccount: ServiceAccount{Name: "vvp"}}); err == nil {
		t.Error("NewChecker accepted a service account without a namespace")
	}
}

// Any pod can post target creations naming fresh namespaces, each a check no
// cache answers; the API server must not see more than MaxChecksInFlight
// namespaces' checks at once. The fake clientset runs one reaction at a
// time, so this test serves the API over HTTP.
func TestChecksInFlightAreBounded(t *testing.T) {
	const extra = 3
	gate := make(chan struct{})
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	newNamespace := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			ns := path.Base(r.URL.Path)
			_ = json.NewEncoder(w).Encode(&corev1.Namespace{TypeMeta: metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: ns}})
			return
		}
		var review authorizationv1.SelfSubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Spec.ResourceAttributes == nil {
			http.Error(w, "not an access review", http.StatusBadRequest)
			return
		}
		ns := review.Spec.ResourceAttributes.Namespace
		mu.Lock()
		if !seen[ns] {
			seen[ns] = true
			newNamespace <- ns
		}
		mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		review.Status.Allowed = true
		_ = json.NewEncoder(w).Encode(&review)
	}))
	// Open the gate before Close, which waits for the handlers.
	t.Cleanup(srv.Close)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChecker(client, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan Result, MaxChecksInFlight+extra)
	start := time.Now()
	for i := range MaxChecksInFlight + extra {
		go func() { results <- c.Check(t.Context(), fmt.Sprintf("ns-%d", i)) }()
	}
	for range MaxChecksInFlight { // every slot's check has begun
		<-newNamespace
	}
	// An extra check that got past the bound would reach the server as fast
	// as the first ones did; the look for one lasts five times as long as
	// they took, so it scales with how loaded this machine is.
	look := max(5*time.Since(start), 10*time.Millisecond)
	timer := time.NewTimer(look)
	defer timer.Stop()
	select {
	case ns := <-newNamespace:
		t.Fatalf("namespace %s was checked while %d checks were in flight", ns, MaxChecksInFlight)
	case <-timer.C:
	}
	open()
	for range MaxChecksInFlight + extra {
		if got := <-results; got.Outcome != OutcomeGranted {
			t.Errorf("Outcome = %q (err %v), want granted", got.Outcome, got.Err)
		}
	}
}
