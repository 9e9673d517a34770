package policy

import (
	"fmt"

	"flinkgate.io/flinkgate/authz"
)

// Unauthorized denies a request whose check the authorizer refused (err is
// nil) or could not answer (err says why). The message names the user, what
// they may not do, and the grant that would allow it.
func Unauthorized(user, namespace string, c authz.Check, err error) Decision {
	what, role := describe(c, namespace)
	if err != nil {
		return Denied(ReasonUnavailable, "could not check whether user %q may %s: %v; try again", user, what, err).WithTarget(checkTarget(c))
	}
	named := ""
	if c.Verb == authz.VerbUse {
		// Naming the target is the point of "use": admins grant it per target.
		named = fmt.Sprintf(" named %q", c.Name)
	}
	return Denied(ReasonForbidden, "user %q may not %s: grant the verb %q on %s.%s%s in namespace %q (see the chart's %s ClusterRole)",
		user, what, c.Verb, c.Resource, authz.Group, named, namespace, role).WithTarget(checkTarget(c))
}

// describe says what a check asks in words, and which of the chart's roles
// grants it.
func describe(c authz.Check, namespace string) (what, role string) {
	const targetAdmin, deployer = "flinkgate-target-admin", "flinkgate-deployer"
	switch {
	case c.Verb == authz.VerbUse:
		return fmt.Sprintf("use target %q", c.Name), deployer
	case c.Resource == authz.ResourceTargets && c.Name == "":
		return fmt.Sprintf("%s targets in namespace %q", c.Verb, namespace), targetAdmin
	case c.Resource == authz.ResourceTargets:
		return fmt.Sprintf("%s target %q", c.Verb, c.Name), targetAdmin
	case c.Name == "":
		return fmt.Sprintf("%s deployments in namespace %q", c.Verb, namespace), deployer
	default:
		return fmt.Sprintf("%s deployment %q", c.Verb, c.Name), deployer
	}
}

func checkTarget(c authz.Check) string {
	if c.Resource == authz.ResourceTargets {
		return c.Name
	}
	return ""
}
