package policy

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// runnable is a deployment document that becomes a FlinkDeployment; the
// cases below break it in one place each.
const runnable = `kind: Deployment
spec:
  deploymentTargetName: staging
  template:
    spec:
      artifact:
        kind: JAR
        jarUri: local:///opt/flink/examples/streaming/TopSpeedWindowing.jar
        flinkVersion: "1.20"
`

// flinkOn is the Flink operator setting flinkgate serve has by default
// with --flink-operator=on.
var flinkOn = FlinkOperator{On: true, ServiceAccount: "flink"}

// validateAdmitted runs the mutating rule on a write of doc to the
// deployment name (a create, or an update of old) and returns the
// validating rule's decision on what it stored, with flink as the Flink
// operator setting.
func validateAdmitted(t *testing.T, flink FlinkOperator, target *resource.Target, name string, old *corev1.ConfigMap, doc string) Decision {
	t.Helper()
	obj := cm(name, resource.KindDeployment)
	obj.Data = map[string]string{resource.DataKey: doc}
	r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: name, New: obj, PlatformNamespace: "flink-platform", FlinkOperator: flink}
	if old != nil {
		r.Operation, r.Old = Update, old
	}
	dep, err := configmap.ParseDeployment(context.Background(), obj)
	if err != nil {
		t.Fatal(err)
	}
	found := resource.TargetLookup{Target: target}
	m := DeploymentWriteMutate(context.Background(), r, dep, found)
	if !m.Allowed {
		t.Fatalf("the mutating rule denied the write: %s", m.Message)
	}
	r.Stage, r.New = StageValidate, m.Object
	if dep, err = configmap.ParseDeployment(context.Background(), m.Object); err != nil {
		t.Fatal(err)
	}
	return DeploymentWriteValidate(r, dep, found)
}

// untranslatableCase is a deployment write that has no FlinkDeployment.
type untranslatableCase struct {
	name string
	// deployment is the ConfigMap's name; empty: "d".
	deployment string
	doc        string
	// patchSet is the target's (YAML list items), or none.
	patchSet string
	// serviceAccount replaces flinkOn's.
	serviceAccount *string
	says           []string
}

func untranslatableCases() []untranslatableCase {
	none := ""
	return []untranslatableCase{
		{name: "A SQL script artifact is denied, naming the field and saying to package the SQL in a JAR.",
			doc:  replace(runnable, "kind: JAR", "kind: SQLSCRIPT"),
			says: []string{"spec.template.spec.artifact.kind: SQL script artifacts have no counterpart", "package the SQL in a JAR"}},
		{name: "A session cluster is denied, naming spec.sessionClusterName and saying to remove it.",
			doc:  runnable + "  sessionClusterName: shared\n",
			says: []string{"spec.sessionClusterName: session clusters have no counterpart", "remove spec.sessionClusterName"}},
		{name: "Additional dependencies are denied, saying to build them into the JAR or the image.",
			doc:  runnable + "        additionalDependencies: [s3://bucket/dep.jar]\n",
			says: []string{"spec.template.spec.artifact.additionalDependencies: additional dependencies have no counterpart", "build a JAR with its dependencies"}},
		{name: "Upgrade strategy NONE is denied, saying to use STATEFUL or STATELESS.",
			doc:  runnable + "  upgradeStrategy: {kind: NONE}\n",
			says: []string{"spec.upgradeStrategy.kind: NONE", "use STATEFUL or STATELESS"}},
		{name: "A Flink configuration key the operator sets itself is denied, naming the key.",
			doc:  runnable + "      flinkConfiguration: {kubernetes.cluster-id: mine}\n",
			says: []string{"spec.template.spec.flinkConfiguration.kubernetes.cluster-id: the operator sets kubernetes.cluster-id itself", "remove it"}},
		{name: "A deployment name that cannot name a FlinkDeployment is denied, saying to recreate it under a valid name.",
			deployment: "top.speed", doc: runnable,
			says: []string{`metadata.name: "top.speed" cannot name a FlinkDeployment`, "recreate the Deployment under a name"}},
		{name: "A deployment name longer than the operator allows is denied.",
			deployment: "top-speed-windowing-with-a-name-far-too-long-for-flink", doc: runnable,
			says: []string{"cannot name a FlinkDeployment", "at most 45"}},
		{name: "A field the translation does not know is denied rather than dropped, naming it.",
			doc:  replace(runnable, "      artifact:", "      paralelism: 2\n      artifact:"),
			says: []string{"spec.template.spec.paralelism: is not a field flinkgate can translate"}},
		{name: "A deployment without a JAR is denied, naming jarUri.",
			doc:  replace(runnable, "        jarUri: local:///opt/flink/examples/streaming/TopSpeedWindowing.jar\n", ""),
			says: []string{"spec.template.spec.artifact.jarUri: is missing"}},
		{name: "Main arguments with an unclosed quote are denied, saying to close it.",
			doc:  runnable + "        mainArgs: --name 'top speed\n",
			says: []string{"spec.template.spec.artifact.mainArgs:", "close every quote"}},
		{name: "What the target's patch set adds is translated too: a forbidden key it adds is denied.",
			doc: runnable, patchSet: "  - {op: add, path: /spec/template/spec/flinkConfiguration, value: {kubernetes.namespace: other}}\n",
			says: []string{"spec.template.spec.flinkConfiguration.kubernetes.namespace"}},
		{name: "Without a default service account, a deployment that names none is denied, saying where to name one.",
			doc: runnable, serviceAccount: &none,
			says: []string{"spec.template.spec.kubernetes.serviceAccountName: no service account"}},
	}
}

// replace replaces the one old in s with new.
func replace(s, old, new string) string {
	if strings.Count(s, old) != 1 {
		panic("replace: " + old + " is not once in the document")
	}
	return strings.Replace(s, old, new, 1)
}

func (c untranslatableCase) run(t *testing.T, flink FlinkOperator) Decision {
	t.Helper()
	name := c.deployment
	if name == "" {
		name = "d"
	}
	if c.serviceAccount != nil {
		flink.ServiceAccount = *c.serviceAccount
	}
	return validateAdmitted(t, flink, stagingTarget(t, c.patchSet), name, nil, c.doc)
}

func TestDeploymentWriteValidateWithTheFlinkOperatorOnDeniesWhatCannotBecomeAFlinkDeployment(t *testing.T) {
	for _, tc := range untranslatableCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.run(t, flinkOn)
			says := append([]string{"cannot become a FlinkDeployment", "--flink-operator=on", "see what maps in " + FlinkMappingDoc}, tc.says...)
			wantDecision(t, d, false, ReasonInvalid, says...)
			if d.Target != "staging" {
				t.Errorf("decision names target %q, want staging", d.Target)
			}
		})
	}
}

func TestDeploymentWriteValidateWithTheFlinkOperatorOffDeniesNothingNew(t *testing.T) {
	for _, tc := range untranslatableCases() {
		t.Run(tc.name, func(t *testing.T) {
			wantDecision(t, tc.run(t, FlinkOperator{}), true, ReasonNone)
		})
	}
}

func TestDeploymentWriteValidateWithTheFlinkOperatorOn(t *testing.T) {
	target := stagingTarget(t, "")
	sql := replace(runnable, "kind: JAR", "kind: SQLSCRIPT")
	// storedSQL is an untranslatable deployment stored while the operator
	// was off.
	storedSQL := func(t *testing.T) *corev1.ConfigMap {
		obj := cm("d", resource.KindDeployment)
		obj.Data = map[string]string{resource.DataKey: sql}
		r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: "d", New: obj, PlatformNamespace: "flink-platform"}
		dep, err := configmap.ParseDeployment(context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		return DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: target}).Object
	}
	cases := []struct {
		name string
		old  func(t *testing.T) *corev1.ConfigMap
		doc  string
		// noDefault leaves the operator setting without a service account.
		noDefault bool
		// allowSA is the operator setting's AllowedServiceAccounts.
		allowSA []string
		allowed bool
		reason  Reason
		says    []string
	}{
		{name: "A deployment that becomes a FlinkDeployment is allowed.",
			doc: runnable, allowed: true},
		{name: "A deployment that names an allowed service account is allowed without a default.",
			doc: runnable + "      kubernetes: {serviceAccountName: jobs}\n", noDefault: true, allowSA: []string{"jobs"}, allowed: true},
		{name: "A deployment that names a service account neither the default nor allowed is denied, naming the allowed ones.",
			doc: runnable + "      kubernetes: {serviceAccountName: flinkgate-webhook}\n", allowSA: []string{"jobs"}, reason: ReasonInvalid,
			says: []string{`spec.template.spec.kubernetes.serviceAccountName: "flinkgate-webhook" is not a ServiceAccount the Flink pods may run as: the allowed ones are flink, jobs`}},
		{name: "An update that leaves an untranslatable stored document as it is (labels, annotations) is allowed.",
			old: storedSQL, doc: sql, allowed: true},
		{name: "An update that changes an untranslatable stored document, and leaves it untranslatable, is denied.",
			old: storedSQL, doc: sql + "  maxJobCreationAttempts: 3\n", reason: ReasonInvalid,
			says: []string{"spec.template.spec.artifact.kind: SQL script artifacts have no counterpart"}},
		{name: "An update that makes an untranslatable stored document translatable is allowed.",
			old: storedSQL, doc: runnable, allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var old *corev1.ConfigMap
			if tc.old != nil {
				old = tc.old(t)
			}
			flink := flinkOn
			if tc.noDefault {
				flink.ServiceAccount = ""
			}
			flink.AllowedServiceAccounts = tc.allowSA
			wantDecision(t, validateAdmitted(t, flink, target, "d", old, tc.doc), tc.allowed, tc.reason, tc.says...)
		})
	}
}

func TestWithTheFlinkOperatorOnNothingRunsInThePlatformNamespace(t *testing.T) {
	platformTarget := func(t *testing.T) *resource.Target {
		tg := parsedTarget(t, targetCM("staging", "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: flink-platform}\n"))
		tg.UID, tg.ResourceVersion = "uid-1", "7"
		return tg
	}
	t.Run("The mutating stage denies a target in the platform namespace before storing it.", func(t *testing.T) {
		obj := targetCM("staging", "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: flink-platform}\n")
		d := TargetCreateMutate(Request{Stage: StageMutate, Operation: Create, Name: "staging", New: obj, PlatformNamespace: "flink-platform", FlinkOperator: flinkOn}, parsedTarget(t, obj))
		wantDecision(t, d, false, ReasonInvalid, `target "staging" would run Flink clusters in the platform namespace "flink-platform"`)
	})
	t.Run("With the operator off the mutating stage stores it with a warning, as before.", func(t *testing.T) {
		obj := targetCM("staging", "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: flink-platform}\n")
		d := TargetCreateMutate(Request{Stage: StageMutate, Operation: Create, Name: "staging", New: obj, PlatformNamespace: "flink-platform"}, parsedTarget(t, obj))
		wantDecision(t, d, true, ReasonNone)
	})
	t.Run("A deployment written to a target stored in the platform namespace before the operator was on is denied.", func(t *testing.T) {
		d := validateAdmitted(t, flinkOn, platformTarget(t), "d", nil, runnable)
		wantDecision(t, d, false, ReasonInvalid, `deployment "d" cannot become a FlinkDeployment: target "staging" would run Flink clusters in the platform namespace`, "set spec.kubernetes.namespace")
		if d.Target != "staging" {
			t.Errorf("decision names target %q, want staging", d.Target)
		}
	})
	t.Run("With the operator off that deployment is allowed.", func(t *testing.T) {
		wantDecision(t, validateAdmitted(t, FlinkOperator{}, platformTarget(t), "d", nil, runnable), true, ReasonNone)
	})
}

func TestFlinkStatusAnnotationsAreFlinkgates(t *testing.T) {
	const state, status = "flinkgate.io/state", "flinkgate.io/status"
	annotated := func(kv ...string) *corev1.ConfigMap {
		c := cm("d", resource.KindDeployment)
		c.Annotations = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			c.Annotations[kv[i]] = kv[i+1]
		}
		return c
	}
	cases := []struct {
		name     string
		op       Operation
		old, new *corev1.ConfigMap
		self     bool
		flink    FlinkOperator
		allowed  bool
		says     []string
	}{
		{name: "A user's create that sets flinkgate.io/state is denied, naming the annotation and saying to leave it to flinkgate.",
			op: Create, new: annotated(state, "RUNNING"), flink: flinkOn,
			says: []string{`deployment "d": the annotation flinkgate.io/state is flinkgate's report of its FlinkDeployment's state`, "only flinkgate may add, change or remove it", "remove it from what you apply"}},
		{name: "A user's update that changes flinkgate.io/status is denied.",
			op: Update, old: annotated(state, "FAILED", status, `{"error":"x"}`), new: annotated(state, "FAILED", status, `{}`), flink: flinkOn,
			says: []string{"the annotation flinkgate.io/status"}},
		{name: "A user's update that removes flinkgate.io/state is denied.",
			op: Update, old: annotated(state, "FAILED"), new: annotated(), flink: flinkOn,
			says: []string{"the annotation flinkgate.io/state"}},
		{name: "A user's update that leaves both as stored is allowed.",
			op: Update, old: annotated(state, "RUNNING", status, "{}"), new: annotated(state, "RUNNING", status, "{}", "team", "data"), flink: flinkOn, allowed: true},
		{name: "flinkgate's own update of both is allowed.",
			op: Update, old: annotated(state, "RUNNING"), new: annotated(state, "FAILED", status, "{}"), self: true, flink: flinkOn, allowed: true},
		{name: "With the operator off a user's update of both is allowed, as before.",
			op: Update, old: annotated(state, "RUNNING"), new: annotated(state, "FAILED", status, "{}"), allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Stage: StageValidate, Operation: tc.op, Namespace: tc.new.Namespace, Name: "d", Old: tc.old, New: tc.new, ByFlinkgate: tc.self, FlinkOperator: tc.flink}
			d, denied := flinkStatusForged(r)
			if denied == tc.allowed {
				t.Fatalf("denied = %v (%s), want %v", denied, d.Message, !tc.allowed)
			}
			if denied {
				wantDecision(t, d, false, ReasonInvalid, tc.says...)
			}
		})
	}
}

func TestDeploymentWriteMutateKeepsTheFlinkStatusAUserLeftOut(t *testing.T) {
	target := stagingTarget(t, "")
	stored := func(t *testing.T) *corev1.ConfigMap {
		obj := cm("d", resource.KindDeployment)
		obj.Data = map[string]string{resource.DataKey: runnable}
		r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: "d", New: obj, PlatformNamespace: "flink-platform", FlinkOperator: flinkOn}
		dep, err := configmap.ParseDeployment(context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		out := DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: target}).Object
		out.Annotations["flinkgate.io/state"] = "RUNNING"
		return out
	}
	cases := []struct {
		name  string
		flink FlinkOperator
		self  bool
		want  string
	}{
		{name: "With the operator on, a user's replace without flinkgate.io/state keeps the stored one.", flink: flinkOn, want: "RUNNING"},
		{name: "flinkgate itself may remove it.", flink: flinkOn, self: true},
		{name: "With the operator off nothing is kept, as before.", flink: FlinkOperator{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := stored(t)
			obj := cm("d", resource.KindDeployment)
			obj.Data = map[string]string{resource.DataKey: runnable}
			r := Request{Stage: StageMutate, Operation: Update, Namespace: obj.Namespace, Name: "d", Old: old, New: obj, PlatformNamespace: "flink-platform", FlinkOperator: tc.flink, ByFlinkgate: tc.self}
			dep, err := configmap.ParseDeployment(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			d := DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: target})
			wantDecision(t, d, true, ReasonNone)
			if got := d.Object.Annotations["flinkgate.io/state"]; got != tc.want {
				t.Errorf("flinkgate.io/state = %q, want %q", got, tc.want)
			}
			if _, ok := obj.Annotations["flinkgate.io/state"]; ok {
				t.Error("the request's object changed")
			}
		})
	}
}

func TestWithTheFlinkOperatorOnARunningDeploymentCannotMoveToAnotherTarget(t *testing.T) {
	staging := stagingTarget(t, "")
	production := parsedTarget(t, targetCM("production", "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n"))
	production.UID, production.ResourceVersion = "uid-2", "8"
	// stagingB runs its clusters in staging's namespace.
	stagingB := parsedTarget(t, targetCM("staging-b", "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"))
	stagingB.UID, stagingB.ResourceVersion = "uid-3", "9"
	// storedOn is the deployment doc as admitted on staging.
	storedOn := func(t *testing.T, doc string) *corev1.ConfigMap {
		obj := cm("d", resource.KindDeployment)
		obj.Data = map[string]string{resource.DataKey: doc}
		r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: "d", New: obj, PlatformNamespace: "flink-platform"}
		dep, err := configmap.ParseDeployment(context.Background(), obj)
		if err != nil {
			t.Fatal(err)
		}
		return DeploymentWriteMutate(context.Background(), r, dep, resource.TargetLookup{Target: staging}).Object
	}
	moved := replace(runnable, "deploymentTargetName: staging", "deploymentTargetName: production")
	withState := func(doc, state string) string { return doc + "  state: " + state + "\n" }
	cases := []struct {
		name    string
		old     string
		doc     string
		target  *resource.Target
		flink   FlinkOperator
		allowed bool
	}{
		{name: "A deployment without a state (so RUNNING) moved to another target is denied, saying to suspend or cancel it first.",
			old: runnable, doc: moved, target: production, flink: flinkOn},
		{name: "A RUNNING deployment moved to another target is denied.",
			old: withState(runnable, "RUNNING"), doc: withState(moved, "RUNNING"), target: production, flink: flinkOn},
		{name: "A RUNNING deployment moved and suspended in the same write is denied: its state would be lost.",
			old: withState(runnable, "RUNNING"), doc: withState(moved, "SUSPENDED"), target: production, flink: flinkOn},
		{name: "A SUSPENDED deployment may move.",
			old: withState(runnable, "SUSPENDED"), doc: withState(moved, "SUSPENDED"), target: production, flink: flinkOn, allowed: true},
		{name: "A CANCELLED deployment may move.",
			old: withState(runnable, "CANCELLED"), doc: withState(moved, "RUNNING"), target: production, flink: flinkOn, allowed: true},
		{name: "A RUNNING deployment moved to another target in the same namespace may move: its FlinkDeployment is updated where it is.",
			old: runnable, doc: replace(runnable, "deploymentTargetName: staging", "deploymentTargetName: staging-b"), target: stagingB, flink: flinkOn, allowed: true},
		{name: "A RUNNING deployment that stays on its target may change.",
			old: runnable, doc: runnable + "  maxJobCreationAttempts: 3\n", target: staging, flink: flinkOn, allowed: true},
		{name: "With the operator off a RUNNING deployment may move, as before.",
			old: runnable, doc: moved, target: production, allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := storedOn(t, tc.old)
			for _, stage := range []Stage{StageMutate, StageValidate} {
				obj := cm("d", resource.KindDeployment)
				obj.Data = map[string]string{resource.DataKey: tc.doc}
				r := Request{Stage: StageMutate, Operation: Update, Namespace: obj.Namespace, Name: "d", Old: old, New: obj, PlatformNamespace: "flink-platform", FlinkOperator: tc.flink}
				dep, err := configmap.ParseDeployment(context.Background(), obj)
				if err != nil {
					t.Fatal(err)
				}
				found := resource.TargetLookup{Target: tc.target}
				d := DeploymentWriteMutate(context.Background(), r, dep, found)
				if stage == StageValidate && d.Allowed {
					r.Stage, r.New = StageValidate, d.Object
					if dep, err = configmap.ParseDeployment(context.Background(), d.Object); err != nil {
						t.Fatal(err)
					}
					d = DeploymentWriteValidate(r, dep, found)
				}
				if tc.allowed {
					wantDecision(t, d, true, ReasonNone)
					continue
				}
				wantDecision(t, d, false, ReasonInvalid, `deployment "d" runs on target "staging"`, `cannot move to target "production" while its state is RUNNING`, "its job's state would be lost", `in namespace "production"`, "suspending it first does not keep the state either", "no initialSavepointPath", "suspend or cancel it first (spec.state: SUSPENDED or CANCELLED), then move it")
			}
		})
	}
}

func TestDeploymentWriteMutateStripsTheFlinkStatusFromAUsersCreate(t *testing.T) {
	target := stagingTarget(t, "")
	cases := []struct {
		name  string
		flink FlinkOperator
		self  bool
		want  map[string]string
	}{
		{name: "With the operator on, a user's create carrying both (a restore, an import) has them removed and is allowed.", flink: flinkOn},
		{name: "flinkgate's own create keeps them.", flink: flinkOn, self: true,
			want: map[string]string{"flinkgate.io/state": "RUNNING", "flinkgate.io/status": "{}"}},
		{name: "With the operator off they are kept, as before.", flink: FlinkOperator{},
			want: map[string]string{"flinkgate.io/state": "RUNNING", "flinkgate.io/status": "{}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := cm("d", resource.KindDeployment)
			obj.Data = map[string]string{resource.DataKey: runnable}
			obj.Annotations = map[string]string{"flinkgate.io/state": "RUNNING", "flinkgate.io/status": "{}"}
			r := Request{Stage: StageMutate, Operation: Create, Namespace: obj.Namespace, Name: "d", New: obj, PlatformNamespace: "flink-platform", FlinkOperator: tc.flink, ByFlinkgate: tc.self}
			dep, err := configmap.ParseDeployment(context.Background(), obj)
			if err != nil {
				t.Fatal(err)
			}
			found := resource.TargetLookup{Target: target}
			d := DeploymentWriteMutate(context.Background(), r, dep, found)
			wantDecision(t, d, true, ReasonNone)
			for _, a := range FlinkStatusAnnotations {
				if got, want := d.Object.Annotations[a], tc.want[a]; got != want {
					t.Errorf("%s = %q, want %q", a, got, want)
				}
			}
			if len(obj.Annotations) != 2 {
				t.Error("the request's object changed")
			}
			r.Stage, r.New = StageValidate, d.Object
			wantDecision(t, DeploymentWriteValidate(r, dep, found), true, ReasonNone)
		})
	}
}
