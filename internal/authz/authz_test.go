package authz

import (
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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
			want: []Check{fg(VerbCreate, ResourceTargets, "")}},
		{name: "Labelling a plain ConfigMap as a target creates a target, so it needs create.",
			in:   Request{Operation: "UPDATE", Kind: target, Name: "staging"},
			want: []Check{fg(VerbCreate, ResourceTargets, "")}},
		{name: "With the Flink operator on, creating a target also needs create on flinkdeployments in its resolved namespace, where the platform would create Flink clusters.",
			in:   Request{Operation: "CREATE", Kind: target, Name: "exfil", FlinkOperator: true, TargetNamespace: "victim"},
			want: []Check{fg(VerbCreate, ResourceTargets, ""), flinkDeployments("victim")}},
		{name: "With the Flink operator on, labelling a plain ConfigMap as a target also needs create on flinkdeployments in its resolved namespace.",
			in:   Request{Operation: "UPDATE", Kind: target, Name: "exfil", FlinkOperator: true, TargetNamespace: "victim"},
			want: []Check{fg(VerbCreate, ResourceTargets, ""), flinkDeployments("victim")}},
		{name: "With the Flink operator off, creating a target needs only create on deploymenttargets, whatever its namespace.",
			in:   Request{Operation: "CREATE", Kind: target, Name: "exfil", TargetNamespace: "victim"},
			want: []Check{fg(VerbCreate, ResourceTargets, "")}},
		{name: "With the Flink operator on, creating a target whose document is unreadable needs only create on deploymenttargets; the policy denies it as invalid.",
			in:   Request{Operation: "CREATE", Kind: target, Name: "exfil", FlinkOperator: true},
			want: []Check{fg(VerbCreate, ResourceTargets, "")}},
		{name: "With the Flink operator on, updating a target needs only update on it, since its namespace cannot change.",
			in:   Request{Operation: "UPDATE", Kind: target, OldKind: target, Name: "staging", FlinkOperator: true, TargetNamespace: "victim"},
			want: []Check{fg(VerbUpdate, ResourceTargets, "staging")}},
		{name: "With the Flink operator on, creating a deployment needs no check on flinkdeployments: its target's creator was asked.",
			in:   Request{Operation: "CREATE", Kind: dep, Name: "job", NewTarget: "production", FlinkOperator: true, TargetNamespace: "victim"},
			want: []Check{fg(VerbCreate, ResourceDeployments, ""), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Updating a target, spec or metadata, needs update on that target.",
			in:   Request{Operation: "UPDATE", Kind: target, OldKind: target, Name: "staging"},
			want: []Check{fg(VerbUpdate, ResourceTargets, "staging")}},
		{name: "Deleting a target needs delete on that target.",
			in:   Request{Operation: "DELETE", Kind: target, Name: "staging"},
			want: []Check{fg(VerbDelete, ResourceTargets, "staging")}},
		{name: "Creating a deployment needs create on deployments and use of its target.",
			in:   Request{Operation: "CREATE", Kind: dep, Name: "job", NewTarget: "production"},
			want: []Check{fg(VerbCreate, ResourceDeployments, ""), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Creating a deployment without a readable target name needs only create; the policy denies it as invalid.",
			in:   Request{Operation: "CREATE", Kind: dep, Name: "job"},
			want: []Check{fg(VerbCreate, ResourceDeployments, "")}},
		{name: "Updating only a deployment's metadata, keeping its document and target, needs update on that deployment only.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "staging"},
			want: []Check{fg(VerbUpdate, ResourceDeployments, "job")}},
		{name: "Updating a deployment's document while keeping its target needs update on it and use of that target, since the document runs there.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "production", NewTarget: "production", DocumentChanged: true},
			want: []Check{fg(VerbUpdate, ResourceDeployments, "job"), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Updating a deployment to another target needs update on it and use of the new target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "production", DocumentChanged: true},
			want: []Check{fg(VerbUpdate, ResourceDeployments, "job"), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Updating a deployment whose target label disagrees with its unchanged document needs use of the document's target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", OldTarget: "staging", NewTarget: "production"},
			want: []Check{fg(VerbUpdate, ResourceDeployments, "job"), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Updating a deployment that had no target to one needs use of the target.",
			in:   Request{Operation: "UPDATE", Kind: dep, OldKind: dep, Name: "job", NewTarget: "production"},
			want: []Check{fg(VerbUpdate, ResourceDeployments, "job"), fg(VerbUse, ResourceTargets, "production")}},
		{name: "Labelling a plain ConfigMap as a deployment creates one, so it needs create and use.",
			in:   Request{Operation: "UPDATE", Kind: dep, Name: "job", NewTarget: "staging"},
			want: []Check{fg(VerbCreate, ResourceDeployments, ""), fg(VerbUse, ResourceTargets, "staging")}},
		{name: "Deleting a deployment needs delete on that deployment.",
			in:   Request{Operation: "DELETE", Kind: dep, Name: "job", OldTarget: "staging"},
			want: []Check{fg(VerbDelete, ResourceDeployments, "job")}},
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

// fg is a check on one of flinkgate's virtual resources.
func fg(verb, resource, name string) Check {
	return Check{Verb: verb, Group: Group, Resource: resource, Name: name}
}

// flinkDeployments is the check that a user may create FlinkDeployments in
// namespace.
func flinkDeployments(namespace string) Check {
	return Check{Verb: VerbCreate, Group: GroupFlink, Resource: ResourceFlinkDeployments, Namespace: namespace}
}

func TestCheckString(t *testing.T) {
	tests := []struct {
		name string
		in   Check
		want string
	}{
		{name: "A check on a named virtual resource reads as kubectl auth can-i takes it.", in: fg(VerbUse, ResourceTargets, "staging"), want: "use deploymenttargets.flinkgate.io/staging"},
		{name: "A check in another namespace names it.", in: flinkDeployments("victim"), want: "create flinkdeployments.flink.apache.org -n victim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
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
				Check:     fg(VerbUse, ResourceTargets, "production"),
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

func TestSubjectAccessReviewAsksAboutTheCheckedResourceWhereItIsAsked(t *testing.T) {
	user := User{Name: "mallory"}
	tests := []struct {
		name string
		in   Attributes
		want authorizationv1.ResourceAttributes
	}{
		{name: "A check on a virtual resource asks about API group flinkgate.io in the request's namespace.",
			in:   Attributes{User: user, Namespace: "flink-platform", Check: fg(VerbCreate, ResourceTargets, "")},
			want: authorizationv1.ResourceAttributes{Namespace: "flink-platform", Verb: "create", Group: "flinkgate.io", Resource: "deploymenttargets"}},
		{name: "A check on flinkdeployments asks about API group flink.apache.org in the target's namespace.",
			in:   Attributes{User: user, Namespace: "victim", Check: flinkDeployments("victim")},
			want: authorizationv1.ResourceAttributes{Namespace: "victim", Verb: "create", Group: "flink.apache.org", Resource: "flinkdeployments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := SubjectAccessReview(tt.in).Spec.ResourceAttributes
			if ra == nil || *ra != tt.want {
				t.Errorf("review asks about %+v, want %+v", ra, tt.want)
			}
		})
	}
}
