package policy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

func TestMarkFlinkAuthorized(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	withAnnotation := func(v string) *corev1.ConfigMap {
		c := targetCM("t", doc)
		c.Annotations = map[string]string{resource.AnnotationFlinkAuthorized: v}
		return c
	}
	cases := []struct {
		name    string
		new     *corev1.ConfigMap
		checked bool
		// want is the annotation's value on the object; "-": absent.
		want string
	}{
		{name: "A create whose flinkdeployments check ran gets the annotation.", new: targetCM("t", doc), checked: true, want: "true"},
		{name: "A create whose check did not run gets no annotation.", new: targetCM("t", doc), want: "-"},
		{name: "A create carrying a forged annotation without the check loses it.", new: withAnnotation("true"), want: "-"},
		{name: "A create carrying another value with the check gets true.", new: withAnnotation("yes"), checked: true, want: "true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Stage: StageMutate, Operation: Create, Name: "t", New: tc.new, PlatformNamespace: "flink-platform"}
			d := MarkFlinkAuthorized(TargetCreateMutate(r, parsedTarget(t, tc.new)), tc.checked)
			if !d.Allowed || d.Object == nil {
				t.Fatalf("decision = %+v, want allowed with an object", d)
			}
			got, ok := d.Object.Annotations[resource.AnnotationFlinkAuthorized]
			if !ok {
				got = "-"
			}
			if got != tc.want {
				t.Errorf("annotation = %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("A denied create is returned as it is.", func(t *testing.T) {
		d := MarkFlinkAuthorized(Denied(ReasonInvalid, "no"), true)
		if d.Allowed || d.Object != nil {
			t.Errorf("decision = %+v, want the denial unchanged", d)
		}
	})
}

func TestCheckFlinkAuthorized(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	with := func(annots map[string]string) *corev1.ConfigMap {
		c := targetCM("t", doc)
		c.Annotations = annots
		return c
	}
	cases := []struct {
		name    string
		annots  map[string]string
		checked bool
		allowed bool
	}{
		{name: "A create with the annotation true after the check is allowed.", annots: map[string]string{resource.AnnotationFlinkAuthorized: "true"}, checked: true, allowed: true},
		{name: "A create without the annotation is allowed whether or not the check ran.", allowed: true},
		{name: "A create carrying the annotation without the check (the mutating stage bypassed) is denied.", annots: map[string]string{resource.AnnotationFlinkAuthorized: "true"}},
		{name: "A create carrying another value is denied.", annots: map[string]string{resource.AnnotationFlinkAuthorized: "yes"}, checked: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Stage: StageValidate, Operation: Create, Name: "t", New: with(tc.annots)}
			var reason Reason
			var says []string
			if !tc.allowed {
				reason, says = ReasonInvalid, []string{resource.AnnotationFlinkAuthorized, "remove it"}
			}
			wantDecision(t, CheckFlinkAuthorized(Allowed(), r, tc.checked), tc.allowed, reason, says...)
		})
	}
}

func TestTheFlinkAuthorizedAnnotationCannotChangeOnATarget(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	with := func(annots map[string]string) *corev1.ConfigMap {
		c := targetCM("t", doc)
		c.Annotations = annots
		return c
	}
	marked := map[string]string{resource.AnnotationFlinkAuthorized: "true"}
	cases := []struct {
		name     string
		old, new map[string]string
		allowed  bool
	}{
		{name: "Adding the annotation to a target is denied.", old: nil, new: marked},
		{name: "Changing its value is denied.", old: marked, new: map[string]string{resource.AnnotationFlinkAuthorized: "false"}},
		{name: "Removing it is denied.", old: marked, new: nil},
		{name: "Keeping it while changing another annotation is allowed.", old: marked, new: map[string]string{resource.AnnotationFlinkAuthorized: "true", "team": "data"}, allowed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Stage: StageValidate, Operation: Update, Name: "t", Old: with(tc.old), New: with(tc.new)}
			var reason Reason
			var says []string
			if !tc.allowed {
				reason, says = ReasonImmutable, []string{resource.AnnotationFlinkAuthorized, "delete the target and create it again"}
			}
			wantDecision(t, TargetUpdateValidate(r), tc.allowed, reason, says...)
		})
	}
}

func TestAWholeTargetWriteThatLeavesOutTheFlinkAuthorizedAnnotationKeepsIt(t *testing.T) {
	const doc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"
	old := targetCM("t", doc)
	old.Annotations = map[string]string{resource.AnnotationFlinkAuthorized: "true"}
	cases := []struct {
		name string
		on   bool
	}{
		{name: "With the operator off, kubectl replace of a marked target without the annotation is allowed and keeps it.", on: false},
		{name: "With the operator on, kubectl replace of a marked target without the annotation is allowed and keeps it.", on: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			upd := targetCM("t", doc)
			upd.Labels["team"] = "data"
			r := Request{Stage: StageMutate, Operation: Update, Name: "t", Old: old, New: upd, FlinkOperator: FlinkOperator{On: tc.on}}
			d := TargetUpdateMutate(r)
			if !d.Allowed {
				t.Fatalf("denied: %s", d.Message)
			}
			if got := d.Object.Annotations[resource.AnnotationFlinkAuthorized]; got != "true" {
				t.Errorf("stored annotation %s = %q, want the stored \"true\" kept", resource.AnnotationFlinkAuthorized, got)
			}
			if _, ok := upd.Annotations[resource.AnnotationFlinkAuthorized]; ok {
				t.Error("the request's object was changed; the mutating stage works on a copy")
			}
		})
	}
}
