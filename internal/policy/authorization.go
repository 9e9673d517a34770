package policy

import "fmt"

// The virtual resources of API group flinkgate.io that users are authorized
// for (SPEC section 2); package authz asks about them.
const (
	authzGroup          = "flinkgate.io"
	authzTargets        = "deploymenttargets"
	authzVerbUse        = "use"
	roleTargetAdmin     = "flinkgate-target-admin"
	roleDeployer        = "flinkgate-deployer"
	unauthorizedRemedy  = "grant the verb %q on %s.%s%s in namespace %q (see the chart's %s ClusterRole)"
	unauthorizedSubject = "user %q may not %s: "
)

// Unauthorized denies a request whose check (verb on resource, on the named
// object or, with an empty name, on any) the authorizer refused (err is nil)
// or could not answer (err says why). The message names the user, what they
// may not do, and the grant that would allow it.
func Unauthorized(user, namespace, verb, resource, name string, err error) Decision {
	what, role := describeCheck(verb, resource, name, namespace)
	target := ""
	if resource == authzTargets {
		target = name
	}
	if err != nil {
		return Denied(ReasonUnavailable, "could not check whether user %q may %s: %v; try again", user, what, err).WithTarget(target)
	}
	named := ""
	if verb == authzVerbUse {
		// Naming the target is the point of "use": admins grant it per target.
		named = fmt.Sprintf(" named %q", name)
	}
	return Denied(ReasonForbidden, unauthorizedSubject+unauthorizedRemedy,
		user, what, verb, resource, authzGroup, named, namespace, role).WithTarget(target)
}

// UnauthorizedTargetNamespace denies creating target, whose Flink clusters
// flinkgate would create as the platform in namespace (--flink-operator=on),
// to a user whom the authorizer refused create on FlinkDeployments there
// (err is nil) or could not answer for (err says why): creating a target
// must not reach further than its creator could alone.
func UnauthorizedTargetNamespace(user, target, namespace string, err error) Decision {
	if err != nil {
		return Denied(ReasonUnavailable, "could not check whether user %q may create target %q for namespace %q (create on %s there): %v; try again",
			user, target, namespace, flinkDeploymentsGrant, err).WithTarget(target)
	}
	return Denied(ReasonForbidden, unauthorizedSubject+"flinkgate would create Flink clusters there as the platform; grant the verb %q on %s in namespace %q",
		user, fmt.Sprintf("create target %q for namespace %q", target, namespace), "create", flinkDeploymentsGrant, namespace).WithTarget(target)
}

// flinkDeploymentsGrant is what a target's creator needs in its namespace
// with the Flink operator on, as kubectl names it.
const flinkDeploymentsGrant = "flinkdeployments.flink.apache.org"

// describeCheck says what a check asks in words, and which of the chart's
// roles grants it.
func describeCheck(verb, resource, name, namespace string) (what, role string) {
	switch {
	case verb == authzVerbUse:
		return fmt.Sprintf("use target %q", name), roleDeployer
	case resource == authzTargets && name == "":
		return fmt.Sprintf("%s targets in namespace %q", verb, namespace), roleTargetAdmin
	case resource == authzTargets:
		return fmt.Sprintf("%s target %q", verb, name), roleTargetAdmin
	case name == "":
		return fmt.Sprintf("%s deployments in namespace %q", verb, namespace), roleDeployer
	default:
		return fmt.Sprintf("%s deployment %q", verb, name), roleDeployer
	}
}
