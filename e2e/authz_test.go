//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// authzCacheTTL is the --authorization-cache-ttl of the authorization suite:
// short, so that a new grant is proven to take effect within it.
const authzCacheTTL = 2 * time.Second

// as impersonates a user in a group, as an API client would authenticate.
func as(user string, groups ...string) []string {
	args := []string{"--as=" + user}
	for _, g := range groups {
		args = append(args, "--as-group="+g)
	}
	return args
}

// The users of the test: all job authors may write ConfigMaps in the
// platform namespace; alice is bound to deploy to staging only.
var (
	asBob   = as("bob", "job-authors")
	asAlice = as("alice", "job-authors")
)

// rbacObjects are the grants of the test, as a cluster admin would write
// them (docs/security.md, "Access control").
const rbacObjectsFormat = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: configmap-writer, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: job-authors-write-configmaps, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: configmap-writer}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: job-authors}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deploy-to-staging, namespace: %[1]s}
rules:
- apiGroups: [flinkgate.io]
  resources: [deploymenttargets]
  resourceNames: [staging]
  verbs: [use]
- apiGroups: [flinkgate.io]
  resources: [deployments]
  verbs: [create, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-deploys-to-staging, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deploy-to-staging}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
`

const productionGrantFormat = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: use-production, namespace: %[1]s}
rules:
- apiGroups: [flinkgate.io]
  resources: [deploymenttargets]
  resourceNames: [production]
  verbs: [use]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-uses-production, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: use-production}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
`

// TestAuthorizationThroughTheAPIServer proves issue 11 against a real
// kube-apiserver with RBAC: users impersonated by kubectl are checked with
// SubjectAccessReviews about flinkgate.io's virtual resources.
func TestAuthorizationThroughTheAPIServer(t *testing.T) {
	s := ownFlinkgate(t, "authz", "--authorization=rbac", "--authorization-cache-ttl="+authzCacheTTL.String())
	ns := s.ns
	rbacObjects := fmt.Sprintf(rbacObjectsFormat, ns)
	productionGrant := fmt.Sprintf(productionGrantFormat, ns)

	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	step("an admin creates the targets and the grants", func(t *testing.T) {
		s.mustKubectl(t, s.targetManifest("staging", targetDoc("staging")), "apply", "-f", "-")
		s.mustKubectl(t, s.targetManifest("production", targetDoc("production")), "apply", "-f", "-")
		s.mustKubectl(t, rbacObjects, "apply", "-f", "-")
		// The API server's authorizer learns of RoleBindings from an
		// informer: wait until it grants what the test relies on.
		s.awaitCanI(t, "yes", append([]string{"create", "configmaps", "-n", ns}, asBob...)...)
		s.awaitAllowed(t, ns, "alice", []string{"job-authors"}, "use", "staging")
	})

	t.Run("a user with only ConfigMap rights cannot create a target, and is told which grant is missing", func(t *testing.T) {
		s.denied(t, s.targetManifest("bobs-target", targetDoc("staging")),
			fmt.Sprintf(`user "bob" may not create targets in namespace %[1]q: grant the verb "create" on deploymenttargets.flinkgate.io in namespace %[1]q (see the chart's flinkgate-target-admin ClusterRole)`, ns),
			append([]string{"apply", "-f", "-"}, asBob...)...)
	})

	t.Run("a user with only ConfigMap rights cannot deploy", func(t *testing.T) {
		s.denied(t, s.deploymentManifest("bobs-job", "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"),
			fmt.Sprintf(`user "bob" may not create deployments in namespace %q`, ns),
			append([]string{"apply", "-f", "-"}, asBob...)...)
	})

	t.Run("a user with only ConfigMap rights cannot change a target's spec, and hears forbidden rather than immutable", func(t *testing.T) {
		s.denied(t, s.targetManifest("staging", targetDoc("elsewhere")), `user "bob" may not update target "staging"`,
			append([]string{"apply", "-f", "-"}, asBob...)...)
	})

	t.Run("a user with only ConfigMap rights cannot delete a target", func(t *testing.T) {
		s.denied(t, "", `user "bob" may not delete target "production"`,
			append([]string{"-n", ns, "delete", "configmap", "production"}, asBob...)...)
	})

	t.Run("alice, a deployer of staging only, deploys to staging", func(t *testing.T) {
		s.mustKubectl(t, s.deploymentManifest("alices-job", "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"),
			append([]string{"apply", "-f", "-"}, asAlice...)...)
		if got := s.get(t, "alices-job").Metadata.Labels["flinkgate.io/deployment-target"]; got != "staging" {
			t.Errorf("alices-job is labelled with target %q, want staging", got)
		}
	})

	useProduction := fmt.Sprintf(`user "alice" may not use target "production": grant the verb "use" on deploymenttargets.flinkgate.io named "production" in namespace %q (see the chart's flinkgate-deployer ClusterRole)`, ns)

	t.Run("alice may not deploy to production, with the exact grant in the message", func(t *testing.T) {
		s.denied(t, s.deploymentManifest("alices-prod-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n"),
			useProduction, append([]string{"apply", "-f", "-"}, asAlice...)...)
	})

	t.Run("alice may not move her staging deployment to production", func(t *testing.T) {
		s.denied(t, s.deploymentManifest("alices-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n"),
			useProduction, append([]string{"apply", "-f", "-"}, asAlice...)...)
	})

	t.Run("alice may not change the document of a production deployment she did not create, though its target stays the same", func(t *testing.T) {
		s.mustKubectl(t, s.deploymentManifest("team-prod-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n"), "apply", "-f", "-")
		s.denied(t, s.deploymentManifest("team-prod-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n  template:\n    spec:\n      artifact: {kind: JAR, jarUri: \"https://example.com/alice.jar\"}\n"),
			useProduction, append([]string{"apply", "-f", "-"}, asAlice...)...)
		if doc := s.get(t, "team-prod-job").Data["resource.yaml"]; strings.Contains(doc, "alice.jar") {
			t.Errorf("team-prod-job's document carries alice's jar after the denial:\n%s", doc)
		}
	})

	t.Run("alice may change the labels of that production deployment, since its document stays as admitted", func(t *testing.T) {
		s.mustKubectl(t, "", append([]string{"-n", ns, "label", "configmap", "team-prod-job", "reviewed-by=alice"}, asAlice...)...)
		if got := s.get(t, "team-prod-job").Metadata.Labels["reviewed-by"]; got != "alice" {
			t.Errorf("team-prod-job's label reviewed-by = %q, want alice", got)
		}
	})

	t.Run("a user with only ConfigMap rights cannot annotate a deployment, even outside flinkgate.io/", func(t *testing.T) {
		s.denied(t, "", `user "bob" may not update deployment "team-prod-job"`,
			append([]string{"-n", ns, "annotate", "configmap", "team-prod-job", "example.com/owner=bob"}, asBob...)...)
	})

	// An owner reference hands the deployment's deletion to the garbage
	// collector, whose ClusterRole may delete anything: without update on
	// deployments it would get around the delete check.
	t.Run("a user with only ConfigMap rights cannot give a deployment an owner", func(t *testing.T) {
		s.denied(t, "", `user "bob" may not update deployment "team-prod-job"`,
			append([]string{"-n", ns, "patch", "configmap", "team-prod-job", "--type=merge", "-p",
				`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"bobs","uid":"00000000-0000-0000-0000-000000000001"}]}}`}, asBob...)...)
	})

	t.Run("a user with only ConfigMap rights cannot annotate a target, even outside flinkgate.io/", func(t *testing.T) {
		s.denied(t, "", `user "bob" may not update target "production"`,
			append([]string{"-n", ns, "annotate", "configmap", "production", "example.com/owner=bob"}, asBob...)...)
	})

	t.Run("a server-side dry run is checked the same way", func(t *testing.T) {
		s.denied(t, s.deploymentManifest("alices-prod-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n"),
			useProduction, append([]string{"create", "--dry-run=server", "-f", "-"}, asAlice...)...)
		s.denied(t, s.targetManifest("bobs-target", targetDoc("staging")), `user "bob" may not create targets`,
			append([]string{"create", "--dry-run=server", "-f", "-"}, asBob...)...)
		// The positive control: the same dry run to staging passes.
		s.mustKubectl(t, s.deploymentManifest("alices-dry-job", "kind: Deployment\nspec:\n  deploymentTargetName: staging\n"),
			append([]string{"create", "--dry-run=server", "-f", "-"}, asAlice...)...)
	})

	t.Run("after a RoleBinding grants use on production, alice deploys there within the cache TTL plus a second", func(t *testing.T) {
		job := s.deploymentManifest("alices-prod-job", "kind: Deployment\nspec:\n  deploymentTargetName: production\n")
		// Refused right before the grant, so a cached refusal is in play.
		s.denied(t, job, useProduction, append([]string{"create", "--dry-run=server", "-f", "-"}, asAlice...)...)
		s.mustKubectl(t, productionGrant, "apply", "-f", "-")
		granted := time.Now()
		// The API server's own RBAC informer must first see the binding;
		// that delay is not flinkgate's, so it is measured and subtracted.
		s.awaitAllowed(t, ns, "alice", []string{"job-authors"}, "use", "production")
		authorizerSaw := time.Now()
		// The bound is on when the admitted request was sent: kubectl's own
		// start-up and round trips on a busy machine are not flinkgate's.
		bound := authzCacheTTL + time.Second
		attempt := 0
		waitUntil(t, waitFor, "alice's apply to be admitted", func() (bool, string) {
			attempt++
			sent := time.Now()
			_, errOut, err := s.kubectl(t, job, append([]string{"apply", "-f", "-"}, asAlice...)...)
			if err == nil {
				t.Logf("admitted on attempt %d, sent %s after the API server's authorizer granted use (bound %s); %s after the RoleBinding was applied",
					attempt, sent.Sub(authorizerSaw).Round(10*time.Millisecond), bound, time.Since(granted).Round(10*time.Millisecond))
				return true, ""
			}
			if !strings.Contains(errOut, useProduction) {
				t.Fatalf("kubectl apply as alice failed with %q; want success or the use denial", errOut)
			}
			if sent.Sub(authorizerSaw) > bound {
				t.Fatalf("a request sent %s after the API server granted use on production was still refused (TTL %s + 1s): %s",
					sent.Sub(authorizerSaw).Round(10*time.Millisecond), authzCacheTTL, errOut)
			}
			return false, errOut
		})
		if got := s.get(t, "alices-prod-job").Metadata.Labels["flinkgate.io/deployment-target"]; got != "production" {
			t.Errorf("alices-prod-job is labelled with target %q, want production", got)
		}
	})

	t.Run("alice may delete her deployment; bob may not", func(t *testing.T) {
		s.denied(t, "", `user "bob" may not delete deployment "alices-job"`,
			append([]string{"-n", ns, "delete", "configmap", "alices-job"}, asBob...)...)
		s.mustKubectl(t, "", append([]string{"-n", ns, "delete", "configmap", "alices-job"}, asAlice...)...)
	})

	t.Run("forbidden denials are counted with their own reason", func(t *testing.T) {
		samples := metricSamples(httpGet(t, s.fg.MetricsURL()+"/metrics"))
		for _, series := range []string{
			`flinkgate_admission_denials_total{kind="DeploymentTarget",operation="CREATE",reason="forbidden"}`,
			`flinkgate_admission_denials_total{kind="Deployment",operation="CREATE",reason="forbidden"}`,
			`flinkgate_authorization_checks_total{asked="true",result="denied"}`,
		} {
			if v := samples[series]; v == "" || v == "0" {
				t.Errorf("%s = %q, want a count", series, v)
			}
		}
	})
}

// awaitAllowed polls a SubjectAccessReview, the question flinkgate asks,
// until the API server's authorizer allows user to use the named target.
// (kubectl auth can-i cannot name an object of a resource the server does
// not serve.)
func (s *suite) awaitAllowed(t *testing.T, ns, user string, groups []string, verb, target string) {
	t.Helper()
	var (
		review *authorizationv1.SubjectAccessReview
		err    error
	)
	if ok, _ := poll(waitFor, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		review, err = s.c.Client().AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: append(slices.Clone(groups), "system:authenticated"),
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: verb, Group: "flinkgate.io", Resource: "deploymenttargets", Name: target,
				},
			},
		}, metav1.CreateOptions{})
		return err == nil && review.Status.Allowed, err
	}); !ok {
		t.Fatalf("the API server did not allow %s to %s target %s within %s (last: %v, %+v)", user, verb, target, waitFor, err, review)
	}
}

// awaitCanI polls `kubectl auth can-i args...` until it answers want, within
// a deadline: the API server's authorizer learns of RBAC objects from an
// informer.
func (s *suite) awaitCanI(t *testing.T, want string, args ...string) {
	t.Helper()
	var out, errOut string
	if ok, _ := poll(waitFor, func() (bool, string) {
		out, errOut, _ = s.kubectl(t, "", append([]string{"auth", "can-i"}, args...)...)
		return strings.TrimSpace(out) == want, ""
	}); !ok {
		t.Fatalf("kubectl auth can-i %s: %q (%s); want %s within %s", strings.Join(args, " "), strings.TrimSpace(out), strings.TrimSpace(errOut), want, waitFor)
	}
}

// wantWebhookCannot checks with `kubectl auth can-i`, impersonating the
// chart's webhook ServiceAccount with its groups, that the network-exposed
// pod holds none of the platform's rights in the given namespaces, and
// (positive controls) that it holds what it needs.
func (s *chartSuite) wantWebhookCannot(t *testing.T, namespaces []string) {
	t.Helper()
	identity := as(chartWebhookSA, "system:serviceaccounts", "system:serviceaccounts:"+chartNS, "system:authenticated")
	ask := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _, _ := s.c.Kubectl(ctx, append(append([]string{"auth", "can-i"}, args...), identity...)...)
		return strings.TrimSpace(out)
	}
	for _, ns := range namespaces {
		for _, check := range [][]string{
			{"create", "pods"}, {"get", "secrets"}, {"list", "secrets"}, {"create", "secrets"},
			{"create", "deployments.apps"}, {"create", "roles.rbac.authorization.k8s.io"}, {"create", "rolebindings.rbac.authorization.k8s.io"},
		} {
			if got := ask(append(check, "-n", ns)...); got != "no" {
				t.Errorf("kubectl auth can-i %s -n %s as %s: %q, want no", strings.Join(check, " "), ns, chartWebhookSA, got)
			}
		}
	}
	// Positive controls, so the "no"s above are about rights, not a broken
	// question. The chart's Roles may take a moment to reach the authorizer.
	for _, check := range [][]string{
		{"create", "subjectaccessreviews.authorization.k8s.io"},
		{"watch", "configmaps", "-n", chartNS},
	} {
		waitUntil(t, waitFor, fmt.Sprintf("%s to be allowed to %s", chartWebhookSA, strings.Join(check, " ")), func() (bool, string) {
			got := ask(check...)
			return got == "yes", got
		})
	}
	// And the platform's account does hold the rights the webhook lacks.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, _, _ := s.c.Kubectl(ctx, "auth", "can-i", "create", "pods", "-n", listed[0], "--as="+chartSA); strings.TrimSpace(out) != "yes" {
		t.Errorf("kubectl auth can-i create pods -n %s as %s: %q, want yes", listed[0], chartSA, strings.TrimSpace(out))
	}
}
