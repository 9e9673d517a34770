package resource

import "slices"

// FinalizerInUse keeps a DeploymentTarget from going away while deployments
// reference it: the webhook and the protection controller add it, and only
// the controller removes it, after a live check finds no referrer.
const FinalizerInUse = "flinkgate.io/in-use-protection"

// HasFinalizer reports whether finalizers holds f.
func HasFinalizer(finalizers []string, f string) bool {
	for _, x := range finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// WithoutFinalizer is finalizers without f, reusing its array.
func WithoutFinalizer(finalizers []string, f string) []string {
	return slices.DeleteFunc(finalizers, func(x string) bool { return x == f })
}
