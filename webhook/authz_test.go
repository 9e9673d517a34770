package webhook

import (
	"cmp"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/authz/authztest"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
)

// reviewAs is review with the requesting user and the dry-run flag set.
func reviewAs(t testing.TB, user string, dryRun bool, op admissionv1.Operation, old, obj *corev1.ConfigMap) []byte {
	t.Helper()
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(review(op, old, obj), &rv); err != nil {
		t.Fatal(err)
	}
	rv.Request.UserInfo = authenticationv1.UserInfo{Username: user, UID: "uid-" + user, Groups: []string{"system:authenticated"}}
	if dryRun {
		rv.Request.DryRun = &dryRun
	}
	b, err := json.Marshal(&rv)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuthorization(t *testing.T) {
	target := configMap("staging", resource.KindTarget, seedTarget)
	production := configMap("production", resource.KindTarget, strings.Replace(seedTarget, "namespace: staging", "namespace: production", 1))
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{
		"staging":    stored(target, "staging"),
		"production": stored(production, "production"),
	}}
	deployment := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	toProduction := configMap("top-speed-windowing", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "production", 1))
	specChange := with(stored(target, "staging"), func(c *corev1.ConfigMap) {
		c.Data[resource.DataKey] = strings.Replace(seedTarget, "namespace: staging", "namespace: production", 1)
	})
	finalizer := with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Finalizers = []string{"example.com/keep"} })
	// A deployment someone allowed to use production admitted there, and
	// two updates of it: its document (a new jar), and only its labels.
	onProduction := with(admittedDeployment(strings.Replace(yamlDeployment, "staging", "production", 1)), func(c *corev1.ConfigMap) {
		c.Labels[resource.LabelDeploymentTarget] = "production"
		c.Annotations[resource.AnnotationTargetNamespace] = "production"
	})
	onProductionNewJar := with(onProduction.DeepCopy(), func(c *corev1.ConfigMap) {
		c.Data[resource.DataKey] += "      artifact: {kind: JAR, jarUri: \"https://example.com/alice.jar\"}\n"
	})
	onProductionLabelled := with(onProduction.DeepCopy(), func(c *corev1.ConfigMap) { c.Labels["team"] = "alice" })
	plain := configMap("staging", "", seedTarget)
	// Targets for namespace victim and for none (the platform's), which
	// mallory, who may create targets, may not run Flink clusters in.
	exfil := configMap("exfil", resource.KindTarget, strings.Replace(seedTarget, "namespace: staging", "namespace: victim", 1))
	platformTarget := configMap("exfil", resource.KindTarget, strings.Replace(seedTarget, "  kubernetes:\n    namespace: staging\n", "  kubernetes: {}\n", 1))

	// grants: what the fake authorizer allows in the platform namespace.
	type grant struct {
		user  string
		check authz.Check
	}
	var (
		createTargets = authz.Check{Verb: "create", Group: authz.Group, Resource: "deploymenttargets"}
		updateStaging = authz.Check{Verb: "update", Group: authz.Group, Resource: "deploymenttargets", Name: "staging"}
		deleteStaging = authz.Check{Verb: "delete", Group: authz.Group, Resource: "deploymenttargets", Name: "staging"}
		useStaging    = authz.Check{Verb: "use", Group: authz.Group, Resource: "deploymenttargets", Name: "staging"}
		createDeps    = authz.Check{Verb: "create", Group: authz.Group, Resource: "deployments"}
		updateDep     = authz.Check{Verb: "update", Group: authz.Group, Resource: "deployments", Name: "top-speed-windowing"}
		deleteDep     = authz.Check{Verb: "delete", Group: authz.Group, Resource: "deployments", Name: "top-speed-windowing"}
		flinkInVictim = authz.Check{Verb: "create", Group: "flink.apache.org", Resource: "flinkdeployments", Namespace: "victim"}
	)
	// alice deploys to staging only; admin administers targets.
	grants := []grant{
		{"alice", useStaging}, {"alice", createDeps}, {"alice", updateDep}, {"alice", deleteDep},
		{"admin", createTargets}, {"admin", updateStaging}, {"admin", deleteStaging},
		{"mallory", createTargets}, {"admin", flinkInVictim},
	}
	cases := []struct {
		name     string
		golden   string
		path     string
		body     []byte
		fail     error // the authorizer cannot answer
		flink    bool  // --flink-operator=on
		allowed  bool
		contains string
	}{
		// DeploymentTarget CREATE
		{name: "a user who may not create targets is denied a target create, naming the grant and the role", golden: "authz-target-create-forbidden", path: "/mutate",
			body:     reviewAs(t, "bob", false, admissionv1.Create, nil, target),
			contains: `user "bob" may not create targets in namespace "flink-platform": grant the verb "create" on deploymenttargets.flinkgate.io in namespace "flink-platform" (see the chart's flinkgate-target-admin ClusterRole)`},
		{name: "a user who may create targets creates one", golden: "authz-target-create-allowed", path: "/validate",
			body: reviewAs(t, "admin", false, admissionv1.Create, nil, stored(target, "staging")), allowed: true},
		{name: "labelling a plain ConfigMap as a target needs create on targets", golden: "authz-target-label-forbidden", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, plain, target), contains: `user "alice" may not create targets`},
		{name: "a dry-run target create is checked like a real one", golden: "authz-target-create-dry-run-forbidden", path: "/mutate",
			body: reviewAs(t, "bob", true, admissionv1.Create, nil, target), contains: `user "bob" may not create targets`},
		// DeploymentTarget CREATE with the Flink operator on
		{name: "with the Flink operator on, a user who may create targets but not FlinkDeployments in the target's namespace is denied, naming the grant", golden: "authz-flink-target-create-namespace-forbidden", path: "/mutate", flink: true,
			body:     reviewAs(t, "mallory", false, admissionv1.Create, nil, exfil),
			contains: `user "mallory" may not create target "exfil" for namespace "victim": flinkgate would create Flink clusters there as the platform; grant the verb "create" on flinkdeployments.flink.apache.org in namespace "victim"`},
		{name: "with the Flink operator on, a target without a namespace is refused by policy, not for a grant in the platform namespace that would not help", golden: "authz-flink-target-create-platform-forbidden", path: "/validate", flink: true,
			body:     reviewAs(t, "mallory", false, admissionv1.Create, nil, stored(platformTarget, platformNS)),
			contains: `target "exfil" would run Flink clusters in the platform namespace "flink-platform", which flinkgate does not allow with --flink-operator=on`},
		{name: "with the Flink operator on, labelling a plain ConfigMap as a target also needs create on FlinkDeployments in its namespace", golden: "authz-flink-target-label-forbidden", path: "/mutate", flink: true,
			body: reviewAs(t, "mallory", false, admissionv1.Update, configMap("exfil", "", seedTarget), exfil), contains: `user "mallory" may not create target "exfil" for namespace "victim"`},
		{name: "with the Flink operator on, a user who may also create FlinkDeployments in the target's namespace creates the target", golden: "authz-flink-target-create-allowed", path: "/validate", flink: true,
			body: reviewAs(t, "admin", false, admissionv1.Create, nil, stored(exfil, "victim")), allowed: true},
		{name: "with the Flink operator on, the mutating stage records on the target that its creator passed the FlinkDeployments check", golden: "authz-flink-target-create-marked", path: "/mutate", flink: true,
			body: reviewAs(t, "admin", false, admissionv1.Create, nil, exfil), allowed: true},
		{name: "with the Flink operator off, a user who may create targets creates one for any namespace", golden: "authz-target-create-other-namespace-allowed", path: "/validate",
			body: reviewAs(t, "mallory", false, admissionv1.Create, nil, stored(exfil, "victim")), allowed: true},
		// DeploymentTarget UPDATE
		{name: "a spec change by a user who may not update the target is forbidden rather than immutable", golden: "authz-target-update-spec-forbidden", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, stored(target, "staging"), specChange), contains: `user "alice" may not update target "staging": grant the verb "update"`},
		{name: "a spec change by a user who may update the target is denied as immutable", golden: "authz-target-update-spec-immutable", path: "/mutate",
			body: reviewAs(t, "admin", false, admissionv1.Update, stored(target, "staging"), specChange), contains: "targets are immutable"},
		{name: "a finalizer change by a user who may not update the target is forbidden", golden: "authz-target-update-finalizer-forbidden", path: "/validate",
			body: reviewAs(t, "alice", false, admissionv1.Update, stored(target, "staging"), finalizer), contains: `user "alice" may not update target "staging"`},
		{name: "a finalizer change by a user who may update the target is allowed", golden: "authz-target-update-finalizer-allowed", path: "/validate",
			body: reviewAs(t, "admin", false, admissionv1.Update, stored(target, "staging"), finalizer), allowed: true},
		// DeploymentTarget DELETE
		{name: "a target delete by a user who may not delete it is forbidden", golden: "authz-target-delete-forbidden", path: "/validate",
			body: reviewAs(t, "alice", false, admissionv1.Delete, stored(target, "staging"), nil), contains: `user "alice" may not delete target "staging"`},
		{name: "a target delete by a user who may delete it reaches the reference check", golden: "authz-target-delete-allowed", path: "/validate",
			body: reviewAs(t, "admin", false, admissionv1.Delete, stored(target, "staging"), nil), allowed: true},
		{name: "the namespace controller may always delete a target", golden: "authz-target-delete-namespace-controller", path: "/validate",
			body: reviewAs(t, authz.NamespaceController, false, admissionv1.Delete, stored(target, "staging"), nil), allowed: true},
		{name: "flinkgate's own identity may always update a target", golden: "authz-target-update-self", path: "/validate",
			body: reviewAs(t, "system:serviceaccount:flink-platform:flinkgate-webhook", false, admissionv1.Update, stored(target, "staging"), finalizer), allowed: true},
		// Deployment CREATE
		{name: "a deployer of staging deploys to staging", golden: "authz-deployment-create-allowed", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Create, nil, deployment), allowed: true},
		{name: "a deployer of staging may not use production, with the exact grant in the message", golden: "authz-deployment-create-use-forbidden", path: "/mutate",
			body:     reviewAs(t, "alice", false, admissionv1.Create, nil, toProduction),
			contains: `user "alice" may not use target "production": grant the verb "use" on deploymenttargets.flinkgate.io named "production" in namespace "flink-platform" (see the chart's flinkgate-deployer ClusterRole)`},
		{name: "a user who may not create deployments is denied before the target is considered", golden: "authz-deployment-create-forbidden", path: "/mutate",
			body:     reviewAs(t, "bob", false, admissionv1.Create, nil, deployment),
			contains: `user "bob" may not create deployments in namespace "flink-platform": grant the verb "create" on deployments.flinkgate.io in namespace "flink-platform" (see the chart's flinkgate-deployer ClusterRole)`},
		{name: "a dry-run deployment create is checked like a real one", golden: "authz-deployment-create-dry-run-forbidden", path: "/validate",
			body: reviewAs(t, "alice", true, admissionv1.Create, nil, admittedDeployment(strings.Replace(yamlDeployment, "staging", "production", 1))), contains: `may not use target "production"`},
		// Deployment UPDATE
		{name: "an update that keeps the target needs only update on the deployment", golden: "authz-deployment-update-allowed", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, admittedDeployment(yamlDeployment), deployment), allowed: true},
		{name: "an update by a user who may not update the deployment is forbidden", golden: "authz-deployment-update-forbidden", path: "/mutate",
			body: reviewAs(t, "bob", false, admissionv1.Update, admittedDeployment(yamlDeployment), deployment), contains: `user "bob" may not update deployment "top-speed-windowing"`},
		{name: "an update that moves the deployment to a target the user may not use is forbidden", golden: "authz-deployment-update-use-forbidden", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, admittedDeployment(yamlDeployment), toProduction), contains: `user "alice" may not use target "production"`},
		{name: "a document change to a deployment that stays on a target the user may not use is forbidden, since the changed document would run there", golden: "authz-deployment-update-document-use-forbidden", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, onProduction, onProductionNewJar), contains: `user "alice" may not use target "production"`},
		{name: "a label change to a deployment on a target the user may not use is allowed, since its document stays as written by a user who could use the target", golden: "authz-deployment-update-labels-allowed", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Update, onProduction, onProductionLabelled), allowed: true},
		// Deployment DELETE
		{name: "a deployment delete by a user who may delete it is allowed", golden: "authz-deployment-delete-allowed", path: "/validate",
			body: reviewAs(t, "alice", false, admissionv1.Delete, admittedDeployment(yamlDeployment), nil), allowed: true},
		{name: "a deployment delete by a user who may not delete it is forbidden", golden: "authz-deployment-delete-forbidden", path: "/validate",
			body: reviewAs(t, "bob", false, admissionv1.Delete, admittedDeployment(yamlDeployment), nil), contains: `user "bob" may not delete deployment "top-speed-windowing"`},
		// The authorizer cannot answer
		{name: "a check that cannot be made denies as unavailable and says so", golden: "authz-unavailable", path: "/mutate",
			body: reviewAs(t, "alice", false, admissionv1.Create, nil, deployment), fail: errors.New("connection refused"),
			contains: `could not check whether user "alice" may create deployments in namespace "flink-platform"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &authztest.Fake{Err: tc.fail}
			for _, g := range grants {
				f.Grant(g.user, cmp.Or(g.check.Namespace, platformNS), g.check)
			}
			az, err := authz.NewCached(f, authz.Options{AlwaysAllowed: []string{"system:serviceaccount:flink-platform:flinkgate-webhook", authz.NamespaceController}})
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewServer(Config{Lookup: lookup, Authorizer: az, PlatformNamespace: platformNS, Registerer: prometheus.NewRegistry(),
				FlinkOperator: policy.FlinkOperator{On: tc.flink, ServiceAccount: "flink"}})
			if err != nil {
				t.Fatal(err)
			}
			resp := post(t, s.Handler(), tc.path, tc.body)
			checkResponse(t, resp, tc.allowed, tc.contains, tc.golden)
		})
	}
}

func TestForbiddenIsCountedAsADenialWithItsOwnReason(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{Lookup: &fakeLookup{}, Authorizer: &authztest.Fake{}, PlatformNamespace: platformNS, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	post(t, s.Handler(), "/mutate", reviewAs(t, "bob", false, admissionv1.Create, nil, configMap("staging", resource.KindTarget, seedTarget)))
	if got := metricValue(t, reg, "flinkgate_admission_denials_total", map[string]string{"kind": resource.KindTarget, "operation": "CREATE", "reason": "forbidden"}); got != 1 {
		t.Errorf("denials{reason=forbidden} = %v, want 1", got)
	}
}

// BenchmarkDeploymentCreateAuthorized is BenchmarkDeploymentCreate with both
// of a deployment create's checks answered from the cache; the difference
// between the two is what authorization adds to an admission.
func BenchmarkDeploymentCreateAuthorized(b *testing.B) {
	lookup := benchLookup()
	f := (&authztest.Fake{}).
		Grant("alice", platformNS, authz.Check{Verb: "create", Group: authz.Group, Resource: "deployments"}).
		Grant("alice", platformNS, authz.Check{Verb: "use", Group: authz.Group, Resource: "deploymenttargets", Name: "staging"})
	az, err := authz.NewCached(f, authz.Options{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(Config{Lookup: lookup, Authorizer: az, PlatformNamespace: platformNS, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	body := reviewAs(b, "alice", false, admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment))
	benchAllowedCreates(b, h, body)
	if f.Asked() != 2 {
		b.Fatalf("asked %d times; the benchmark must measure cache hits", f.Asked())
	}
}
