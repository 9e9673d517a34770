package webhook

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// runnableDeployment becomes a FlinkDeployment; sqlDeployment, a SQL
// script, cannot.
const (
	runnableDeployment = yamlDeployment + `      artifact:
        kind: JAR
        jarUri: local:///opt/flink/examples/streaming/TopSpeedWindowing.jar
        flinkVersion: "1.20"
`
	sqlDeployment = yamlDeployment + `      artifact:
        kind: SQLSCRIPT
        flinkVersion: "1.20"
`
)

// stateAnnotated is c with flinkgate.io/state set to state.
func stateAnnotated(c *corev1.ConfigMap, state string) *corev1.ConfigMap {
	return with(c, func(c *corev1.ConfigMap) { c.Annotations["flinkgate.io/state"] = state })
}

// TestAdmissionWithTheFlinkOperatorOn is the wire of the admission denials
// of --flink-operator=on; with it off (every case of TestAdmission) the
// answers stay as they were.
func TestAdmissionWithTheFlinkOperatorOn(t *testing.T) {
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{
		"staging": stored(configMap("staging", resource.KindTarget, seedTarget), "staging"),
	}}
	relabelled := func(c *corev1.ConfigMap) *corev1.ConfigMap {
		return with(c, func(c *corev1.ConfigMap) { c.Labels["team"] = "data" })
	}
	cases := []struct {
		name     string
		golden   string
		path     string
		body     []byte
		flink    policy.FlinkOperator
		allowed  bool
		contains string
	}{
		{name: "a deployment that cannot become a FlinkDeployment is denied by validation, naming the field, why and what to do", golden: "flink-deployment-untranslatable", path: "/validate",
			body:     review(admissionv1.Create, nil, admittedDeployment(sqlDeployment)),
			contains: "spec.template.spec.artifact.kind: SQL script artifacts have no counterpart"},
		{name: "an update that changes the document into one that cannot become a FlinkDeployment is denied", golden: "flink-deployment-update-untranslatable", path: "/validate",
			body:     review(admissionv1.Update, admittedDeployment(runnableDeployment), admittedDeployment(strings.Replace(runnableDeployment, "1.20", "1.12", 1))),
			contains: `spec.template.spec.artifact.flinkVersion: "1.12" is not a Flink version`},
		{name: "a deployment that becomes a FlinkDeployment is admitted", golden: "flink-deployment-translatable", path: "/validate",
			body: review(admissionv1.Create, nil, admittedDeployment(runnableDeployment)), allowed: true},
		{name: "a label-only update of a deployment stored before the operator was on is admitted, though it cannot become a FlinkDeployment", golden: "flink-deployment-update-labels", path: "/validate",
			body: review(admissionv1.Update, admittedDeployment(sqlDeployment), relabelled(admittedDeployment(sqlDeployment))), allowed: true},
		{name: "the mutating webhook patches a deployment that cannot become a FlinkDeployment as before, leaving the denial to validation", golden: "flink-deployment-mutate", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, sqlDeployment)), allowed: true},
		{name: "without a default service account, a deployment that names none is denied, saying where to name one", golden: "flink-deployment-no-service-account", path: "/validate",
			body: review(admissionv1.Create, nil, admittedDeployment(runnableDeployment)), flink: policy.FlinkOperator{On: true},
			contains: "spec.template.spec.kubernetes.serviceAccountName: no service account"},
		{name: "a user's update that forges the flinkgate.io/state annotation is denied, naming it", golden: "flink-deployment-forged-state", path: "/validate",
			body:     as("mallory", review(admissionv1.Update, admittedDeployment(runnableDeployment), stateAnnotated(admittedDeployment(runnableDeployment), "RUNNING"))),
			contains: "the annotation flinkgate.io/state is flinkgate's report of its FlinkDeployment's state, and only flinkgate may add, change or remove it"},
		{name: "flinkgate's own update of the flinkgate.io/state annotation is admitted", golden: "flink-deployment-state-by-flinkgate", path: "/validate",
			body: as(flinkgateUser, review(admissionv1.Update, admittedDeployment(runnableDeployment), stateAnnotated(admittedDeployment(runnableDeployment), "RUNNING"))), allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, lookup, nil, rbac.ModeOff)
			s.cfg.Self = flinkgateUser
			s.cfg.FlinkOperator = tc.flink
			if !tc.flink.On {
				s.cfg.FlinkOperator = policy.FlinkOperator{On: true, ServiceAccount: "flink"}
			}
			resp := post(t, s.Handler(), tc.path, tc.body)
			checkResponse(t, resp, tc.allowed, tc.contains, tc.golden)
		})
	}
}

// With the operator off, the denials above are not made: the same
// requests are answered as they always were.
func TestAdmissionWithTheFlinkOperatorOffDeniesNothingNew(t *testing.T) {
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{
		"staging": stored(configMap("staging", resource.KindTarget, seedTarget), "staging"),
	}}
	s, _ := newTestServer(t, lookup, nil, rbac.ModeOff)
	for _, doc := range []string{sqlDeployment, strings.Replace(runnableDeployment, "1.20", "1.12", 1)} {
		if resp := post(t, s.Handler(), "/validate", review(admissionv1.Create, nil, admittedDeployment(doc))); !resp.Allowed {
			t.Errorf("denied with the operator off: %v", resp.Result)
		}
	}
}
