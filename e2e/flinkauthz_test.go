//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// malloryRBACFormat lets mallory write ConfigMaps and create targets in the
// platform namespace (%[1]s), and nothing in any target namespace: the
// review's R2, where such a user had flinkgate run her Flink clusters in a
// namespace she could not even read.
const malloryRBACFormat = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: mallory-creates-targets, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [flinkgate.io]
  resources: [deploymenttargets]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory-creates-targets, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: mallory-creates-targets}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
`

// flinkDeploymentsGrantFormat lets mallory create FlinkDeployments in
// namespace %[1]s, as an admin would to let her create targets for it.
const flinkDeploymentsGrantFormat = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: mallory-creates-flinkdeployments, namespace: %[1]s}
rules:
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: mallory-creates-flinkdeployments, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: mallory-creates-flinkdeployments}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: mallory}
`

// TestTargetCreatorsNeedCreateOnFlinkDeploymentsInTheTargetNamespace proves
// the review's finding 2 fixed against a real kube-apiserver with RBAC:
// with --flink-operator=on, a target is the right to have the platform
// create Flink clusters in its namespace, so creating one also needs
// create on flinkdeployments.flink.apache.org there.
func TestTargetCreatorsNeedCreateOnFlinkDeploymentsInTheTargetNamespace(t *testing.T) {
	fe := startFlinkEnv(t, "flink-authz", flinkEnvOptions{targets: 1})
	victim := fe.targetNS[0]
	asMallory := as("mallory")
	target := func(name, ns string, labelled bool) string {
		cm := flinkgateCM(fe.platformNS, name, resource.KindTarget, fmt.Sprintf("kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: %s\n", ns))
		if !labelled {
			cm.Labels = nil
		}
		cm.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
		b, err := json.Marshal(cm)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	refusal := func(name string) string {
		return fmt.Sprintf(`user "mallory" may not create target %q for namespace %[2]q: flinkgate would create Flink clusters there as the platform; grant the verb "create" on flinkdeployments.flink.apache.org in namespace %[2]q`, name, victim)
	}

	runSteps(t, []step{
		{"an admin lets mallory create targets in the platform namespace only", func(t *testing.T) {
			fe.kubectl(t, fmt.Sprintf(malloryRBACFormat, fe.platformNS), "apply", "-f", "-")
			// The API server's authorizer learns of RoleBindings from an
			// informer: wait until it grants what the test relies on.
			fe.awaitReview(t, true, "mallory", fe.platformNS, "flinkgate.io", "deploymenttargets")
			fe.awaitReview(t, false, "mallory", victim, "flink.apache.org", "flinkdeployments")
		}},
		{"mallory is denied a target for namespace victim, and told which grant is missing", func(t *testing.T) {
			fe.deniedAs(t, target("exfil", victim, true), refusal("exfil"), append([]string{"apply", "-f", "-"}, asMallory...)...)
			if fe.configMap(t, "exfil") != nil {
				t.Error("ConfigMap exfil exists after the denial")
			}
		}},
		{"mallory is denied the same by labelling a plain ConfigMap as a target for namespace victim", func(t *testing.T) {
			fe.kubectl(t, target("exfil-label", victim, false), append([]string{"apply", "-f", "-"}, asMallory...)...)
			fe.deniedAs(t, "", refusal("exfil-label"),
				append([]string{"-n", fe.platformNS, "label", "configmap", "exfil-label", resource.LabelKind + "=" + resource.KindTarget}, asMallory...)...)
			if cm := fe.configMap(t, "exfil-label"); cm == nil || cm.Labels[resource.LabelKind] != "" {
				t.Errorf("ConfigMap exfil-label after the denial: %+v; want it unlabelled", cm)
			}
		}},
		{"an admin creates a target for namespace victim", func(t *testing.T) {
			fe.createTarget(t, victim)
		}},
		{"once granted create on flinkdeployments in namespace victim, mallory creates a target for it", func(t *testing.T) {
			// Refused right before the grant, so a cached refusal is in play.
			fe.deniedAs(t, target("granted", victim, true), refusal("granted"), append([]string{"apply", "-f", "-"}, asMallory...)...)
			fe.kubectl(t, fmt.Sprintf(flinkDeploymentsGrantFormat, victim), "apply", "-f", "-")
			fe.awaitReview(t, true, "mallory", victim, "flink.apache.org", "flinkdeployments")
			// flinkgate may answer from a refusal cached for at most a
			// second (--authorization-cache-ttl's refusal bound).
			waitUntil(t, waitFor, "mallory's target for namespace victim to be admitted", func() (bool, string) {
				_, errOut, err := fe.kubectlAs(t, target("granted", victim, true), append([]string{"apply", "-f", "-"}, asMallory...)...)
				if err != nil && !strings.Contains(errOut, refusal("granted")) {
					t.Fatalf("kubectl apply as mallory failed with %q; want success or the refusal", errOut)
				}
				return err == nil, errOut
			})
			if cm := fe.configMap(t, "granted"); cm == nil || cm.Labels[resource.LabelKind] != resource.KindTarget {
				t.Errorf("target granted after its admission: %+v", cm)
			}
		}},
	})
}

// kubectl runs kubectl as the cluster admin with stdin, failing t on an
// error.
func (fe *flinkEnv) kubectl(t *testing.T, stdin string, args ...string) {
	t.Helper()
	if _, errOut, err := fe.kubectlAs(t, stdin, args...); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
}

// kubectlAs runs kubectl with stdin; args impersonate a user with --as.
func (fe *flinkEnv) kubectlAs(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return fe.c.KubectlInput(ctx, stdin, args...)
}

// deniedAs runs kubectl and wants flinkgate's denial containing want.
func (fe *flinkEnv) deniedAs(t *testing.T, stdin, want string, args ...string) {
	t.Helper()
	_, errOut, err := fe.kubectlAs(t, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded; want a denial containing %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(errOut, "flinkgate.io\" denied the request") || !strings.Contains(errOut, want) {
		t.Fatalf("kubectl %s failed with %q; want flinkgate's denial containing %q", strings.Join(args, " "), errOut, want)
	}
}

// awaitReview polls a SubjectAccessReview, the question flinkgate asks,
// until the API server's authorizer answers want to whether user may
// create the resource of group in ns.
func (fe *flinkEnv) awaitReview(t *testing.T, want bool, user, ns, group, res string) {
	t.Helper()
	waitUntil(t, waitFor, fmt.Sprintf("the API server to answer %v to %s creating %s.%s in %s", want, user, res, group, ns), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		review, err := fe.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Group: group, Resource: res},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err.Error()
		}
		return review.Status.Allowed == want, fmt.Sprintf("%+v", review.Status)
	})
}
