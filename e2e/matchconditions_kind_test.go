//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestAConfigMapOfAnotherKindIsStillJudgedByFlinkgateOnUpdate checks the
// matchCondition changes-what-flinkgate-reads: flinkgate denies every UPDATE
// of a ConfigMap whose flinkgate.io/kind label is neither Deployment nor
// DeploymentTarget (except removing the label), but the condition spares
// the call to anyone the API server's authorizer lets update
// deployments.flinkgate.io of that name, since it asks about deployments
// for every kind that is not DeploymentTarget.
func TestAConfigMapOfAnotherKindIsStillJudgedByFlinkgateOnUpdate(t *testing.T) {
	s := ownFlinkgate(t, "otherkind", "--authorization=rbac")
	ns := s.ns
	s.mustKubectl(t, fmt.Sprintf(rbacObjectsFormat, ns), "apply", "-f", "-")
	s.awaitCanI(t, "yes", append([]string{"update", "configmaps", "-n", ns}, asBob...)...)
	// alice's Role grants use on staging and update on deployments together.
	s.awaitAllowed(t, ns, "alice", []string{"job-authors"}, "use", "staging")
	// The object exists as one from before flinkgate served the namespace
	// would: written by a user the chart's first matchCondition exempts.
	legacy := name("legacy")
	s.mustKubectl(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s, labels: {flinkgate.io/kind: Other}}\ndata: {k: v}\n", legacy, ns),
		"apply", "-f", "-", "--as=system:serviceaccount:kube-system:namespace-controller", "--as-group=system:masters")
	t.Cleanup(func() { s.kubectl(t, "", "-n", ns, "delete", "configmap", legacy, "--wait=false") })

	// Control: flinkgate's own verdict on the write, reached by a user with
	// only ConfigMap rights.
	s.denied(t, "", "is not a flinkgate kind", append([]string{"-n", ns, "annotate", "configmap", legacy, "example.com/owner=bob"}, asBob...)...)
	// The same write by a user who may update deployments.
	_, errOut, err := s.kubectl(t, "", append([]string{"-n", ns, "annotate", "configmap", legacy, "example.com/owner=alice"}, asAlice...)...)
	if err == nil {
		t.Fatalf("alice annotated ConfigMap %s (flinkgate.io/kind=Other) without flinkgate being asked; flinkgate denies the same write from bob", legacy)
	}
	if !strings.Contains(errOut, "is not a flinkgate kind") {
		t.Fatalf("alice's write failed with %q; want flinkgate's denial", errOut)
	}
}
