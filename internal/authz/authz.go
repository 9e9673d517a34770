// Package authz asks the API server whether the requesting user may act on
// flinkgate's virtual resources (deploymenttargets and deployments in API
// group flinkgate.io), which Kubernetes RBAC cannot tell apart from the
// ConfigMaps that store them, and, with the Flink operator on, whether
// they may create what flinkgate would create for them.
package authz

import (
	"context"

	"flinkgate.io/flinkgate/internal/enumflag"
	"flinkgate.io/flinkgate/internal/resource"
)

// Group is the API group of the virtual resources. Nothing is served under
// it; RBAC rules name it so admins can grant flinkgate's verbs.
const Group = "flinkgate.io"

// The virtual resources.
const (
	ResourceTargets     = "deploymenttargets"
	ResourceDeployments = "deployments"
)

// The Flink Kubernetes Operator's resource that flinkgate writes, as the
// platform, in a target's namespace with --flink-operator=on: whoever
// creates the target must be allowed to create it there themselves.
const (
	GroupFlink               = "flink.apache.org"
	ResourceFlinkDeployments = "flinkdeployments"
)

// The verbs flinkgate asks about. "use" is a custom verb, like
// PodSecurityPolicy's: may a deployment reference the named target.
const (
	VerbCreate = "create"
	VerbUpdate = "update"
	VerbDelete = "delete"
	VerbUse    = "use"
)

// NamespaceController is the identity that empties a namespace being
// deleted; it must always be able to delete flinkgate's objects.
const NamespaceController = "system:serviceaccount:kube-system:namespace-controller"

// Mode is the --authorization setting.
type Mode string

const (
	// ModeRBAC asks the API server with SubjectAccessReviews.
	ModeRBAC Mode = "rbac"
	// ModeOff allows every user who may write the ConfigMap.
	ModeOff Mode = "off"
)

// ParseMode parses an --authorization value, strictly, so a typo fails at
// start-up instead of weakening the check.
func ParseMode(s string) (Mode, error) {
	return enumflag.Parse("authorization mode", s, ModeRBAC, ModeOff)
}

// String implements flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set implements flag.Value.
func (m *Mode) Set(s string) error { return enumflag.Set(m, s, ParseMode) }

// User is the requesting user as the AdmissionRequest's userInfo names it.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Check is one verb on one resource, optionally on one named object.
type Check struct {
	Verb string
	// Group is the resource's API group: Group for the virtual resources.
	Group    string
	Resource string
	// Name is empty for creations, which RBAC authorizes before a name
	// exists, as for real resources.
	Name string
	// Namespace is where to ask when it is not the request's namespace
	// (empty): a target's namespace, for what flinkgate would create there.
	Namespace string
}

// String renders the check as kubectl auth can-i would take it.
func (c Check) String() string {
	s := c.Verb + " " + c.Resource + "." + c.Group
	if c.Name != "" {
		s += "/" + c.Name
	}
	if c.Namespace != "" {
		s += " -n " + c.Namespace
	}
	return s
}

// flinkgateCheck is a check on one of the virtual resources.
func flinkgateCheck(verb, resource, name string) Check {
	return Check{Verb: verb, Group: Group, Resource: resource, Name: name}
}

// Attributes is one question to the authorizer.
type Attributes struct {
	User User
	// Namespace is where the question is asked: Check.Namespace, or else
	// the request's namespace.
	Namespace string
	Check     Check
}

// Authorizer answers whether a user may do a check. An error means the
// question could not be answered, never "no".
type Authorizer interface {
	Allowed(ctx context.Context, a Attributes) (bool, error)
}

// Request is what Required needs to know about an admission request.
type Request struct {
	// Operation is CREATE, UPDATE or DELETE.
	Operation string
	// Kind is the flinkgate kind the request concerns (the route's kind);
	// OldKind the stored object's kind label, on UPDATE.
	Kind, OldKind string
	// Name is the object's name.
	Name string
	// OldTarget and NewTarget are a deployment's target before and after
	// (empty when unknown or unparsable).
	OldTarget, NewTarget string
	// DocumentChanged is set when an UPDATE changes the stored document
	// (data or binaryData), so the patch set is applied to what it says.
	DocumentChanged bool
	// FlinkOperator is --flink-operator=on: flinkgate creates a
	// FlinkDeployment, as the platform, in a target's namespace for every
	// deployment on it.
	FlinkOperator bool
	// TargetNamespace is the resolved namespace of a target being created
	// (its spec.kubernetes.namespace, or the platform namespace); empty
	// when its document is unreadable, which the policy denies.
	TargetNamespace string
}

// Required lists the checks a request needs, in the order to ask them. It
// is a pure function of the request.
func Required(r Request) []Check {
	switch r.Kind {
	case resource.KindTarget:
		switch {
		case r.Operation == "DELETE":
			return []Check{flinkgateCheck(VerbDelete, ResourceTargets, r.Name)}
		case r.Operation == "UPDATE" && r.OldKind == resource.KindTarget:
			// Spec changes are denied as immutable anyway, but only after
			// the user learns whether they may change the target at all.
			return []Check{flinkgateCheck(VerbUpdate, ResourceTargets, r.Name)}
		case r.Operation == "CREATE" || r.Operation == "UPDATE":
			// An UPDATE that adds the kind label creates a target.
			checks := []Check{flinkgateCheck(VerbCreate, ResourceTargets, "")}
			if r.FlinkOperator && r.TargetNamespace != "" {
				// A target is the right to have the platform create Flink
				// clusters in its namespace; without this, creating targets
				// would reach every namespace the platform manages.
				checks = append(checks, Check{Verb: VerbCreate, Group: GroupFlink, Resource: ResourceFlinkDeployments, Namespace: r.TargetNamespace})
			}
			return checks
		}
	case resource.KindDeployment:
		var checks []Check
		newTarget := r.NewTarget
		switch {
		case r.Operation == "DELETE":
			return []Check{flinkgateCheck(VerbDelete, ResourceDeployments, r.Name)}
		case r.Operation == "UPDATE" && r.OldKind == resource.KindDeployment:
			checks = append(checks, flinkgateCheck(VerbUpdate, ResourceDeployments, r.Name))
			// The user writing a document is not necessarily the one who
			// was allowed to use its target: a changed document runs there,
			// so it needs use. Only metadata (labels, annotations,
			// finalizers) may change without it, since the stored document
			// stays as admitted.
			if !r.DocumentChanged && r.NewTarget == r.OldTarget {
				newTarget = ""
			}
		case r.Operation == "CREATE" || r.Operation == "UPDATE":
			checks = append(checks, flinkgateCheck(VerbCreate, ResourceDeployments, ""))
		default:
			return nil
		}
		if newTarget != "" {
			checks = append(checks, flinkgateCheck(VerbUse, ResourceTargets, newTarget))
		}
		return checks
	}
	return nil
}
