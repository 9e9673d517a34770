// This file is over 400 lines because TestAdmission is the table of golden responses for every
// admission rule, with its fixtures beside the cases that use them.

package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"flinkgate.io/flinkgate/internal/golden"
	"flinkgate.io/flinkgate/internal/hostile"
	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
	"flinkgate.io/flinkgate/rbac"
	"flinkgate.io/flinkgate/webhook/internal/reviewtest"
	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// The reviews and their ConfigMaps are the wire format tests' too.
const platformNS = reviewtest.PlatformNS

var (
	configMap     = reviewtest.ConfigMap
	review        = reviewtest.Review
	appliedReview = reviewtest.Applied
)

// fakeLookup answers from fixed data: the unit under test is the policy.
type fakeLookup struct {
	targets map[string]*corev1.ConfigMap
	// live overrides targets for TargetLive: what the API server says when
	// the cache is stale.
	live      map[string]*corev1.ConfigMap
	referrers map[string][]string
	err       error
	panics    bool
}

func (f *fakeLookup) Target(_ context.Context, _, name string) resource.TargetLookup {
	if f.panics {
		panic("lookup exploded")
	}
	if f.err != nil {
		return resource.TargetLookup{Err: f.err}
	}
	cm, ok := f.targets[name]
	if !ok {
		return resource.TargetLookup{}
	}
	t, err := configmap.ParseTarget(context.Background(), cm)
	return resource.TargetLookup{Target: t, Err: err}
}

func (f *fakeLookup) TargetLive(ctx context.Context, ns, name string) resource.TargetLookup {
	if cm, ok := f.live[name]; ok {
		t, err := configmap.ParseTarget(context.Background(), cm)
		return resource.TargetLookup{Target: t, Err: err}
	}
	return f.Target(ctx, ns, name)
}

func (f *fakeLookup) Referrers(_ context.Context, _, target string) ([]string, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.referrers[target], nil
}

// fakePreflight answers with a fixed result, or skips in off mode as the
// real one does.
type fakePreflight struct {
	result rbac.Result
	mode   rbac.Mode
}

func (f fakePreflight) Mode() rbac.Mode { return f.mode }

func (f fakePreflight) Check(_ context.Context, ns string) rbac.Result {
	if f.mode == rbac.ModeOff {
		return rbac.Result{Outcome: rbac.OutcomeSkipped, Namespace: ns}
	}
	r := f.result
	r.Namespace = ns
	return r
}

// seedTarget is the seed's example target.
const seedTarget = hostile.SeedTarget

const yamlDeployment = reviewtest.YAMLDeployment

const jsonDeployment = `{"kind": "Deployment", "spec": {"deploymentTargetName": "staging", "template": {"spec": {"flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"}}}}}`

// stored is a target as the API server keeps it after admission.
func stored(cm *corev1.ConfigMap, ns string) *corev1.ConfigMap {
	out := cm.DeepCopy()
	immutable := true
	out.Immutable = &immutable
	out.Annotations = map[string]string{resource.AnnotationNamespace: ns}
	return out
}

// versioned is a stored object with the UID and resourceVersion the API
// server gave it.
func versioned(cm *corev1.ConfigMap, uid, rv string) *corev1.ConfigMap {
	out := cm.DeepCopy()
	out.UID, out.ResourceVersion = types.UID(uid), rv
	return out
}

func with(cm *corev1.ConfigMap, f func(*corev1.ConfigMap)) *corev1.ConfigMap {
	out := cm.DeepCopy()
	f(out)
	return out
}

func admittedDeployment(doc string) *corev1.ConfigMap {
	return with(configMap("top-speed-windowing", resource.KindDeployment, doc), func(c *corev1.ConfigMap) {
		c.Labels[resource.LabelDeploymentTarget] = "staging"
		c.Annotations = map[string]string{resource.AnnotationTargetNamespace: "staging"}
	})
}

// edit rewrites the AdmissionRequest inside a review body.
func edit(body []byte, f func(*admissionv1.AdmissionRequest)) []byte {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		panic(err)
	}
	f(r.Request)
	b, _ := json.Marshal(&r)
	return b
}

// as sends a review as the named user.
func as(user string, body []byte) []byte {
	return edit(body, func(r *admissionv1.AdmissionRequest) { r.UserInfo.Username = user })
}

func deleting(cm *corev1.ConfigMap) *corev1.ConfigMap {
	return with(cm, func(c *corev1.ConfigMap) { ts := metav1.Unix(1000000000, 0); c.DeletionTimestamp = &ts })
}

// deletedAgo is cm terminating since d before the test server's clock.
func deletedAgo(cm *corev1.ConfigMap, d time.Duration) *corev1.ConfigMap {
	return with(cm, func(c *corev1.ConfigMap) { ts := metav1.NewTime(testNow.Add(-d)); c.DeletionTimestamp = &ts })
}

func protected(cm *corev1.ConfigMap) *corev1.ConfigMap {
	return with(cm, func(c *corev1.ConfigMap) { c.Finalizers = append(c.Finalizers, resource.FinalizerInUse) })
}

// flinkgateUser is the identity the test server is told is its own.
const flinkgateUser = "system:serviceaccount:flink-platform:flinkgate"

// goldenResponse is an AdmissionResponse with its patch decoded, so a golden file
// shows the operations rather than base64.
type goldenResponse struct {
	Allowed          bool              `json:"allowed"`
	Code             int32             `json:"code,omitempty"`
	Message          string            `json:"message,omitempty"`
	Warnings         []string          `json:"warnings,omitempty"`
	Patch            json.RawMessage   `json:"patch,omitempty"`
	AuditAnnotations map[string]string `json:"auditAnnotations,omitempty"`
}

func newTestServer(t testing.TB, lookup Lookup, pre Preflight, mode rbac.Mode) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	if fp, ok := pre.(fakePreflight); ok {
		fp.mode = mode
		pre = fp
	}
	s, err := NewServer(Config{Lookup: lookup, Preflight: pre, PlatformNamespace: platformNS, Registerer: reg,
		ProtectionSettle: testSettle, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

// The test server's clock and settle time: an hour after deleting's
// deletion timestamp, with the production default settle time.
var testNow = time.Unix(1000000000+3600, 0)

const testSettle = protection.DefaultSettle

func post(t testing.TB, h http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	if out.Response == nil || out.Response.UID != "0b5f1d5e-1111-4222-8333-444455556666" {
		t.Fatalf("response does not answer the request: %s", rec.Body.String())
	}
	return out.Response
}

func TestAdmission(t *testing.T) {
	target := configMap("staging", resource.KindTarget, seedTarget)
	lookup := &fakeLookup{
		targets: map[string]*corev1.ConfigMap{
			"staging":    stored(target, "staging"),
			"appender":   stored(configMap("appender", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/args/-, value: --verbose}\n"), "staging"),
			"kind-thief": stored(configMap("kind-thief", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: replace, path: /spec, value: {deploymentTargetName: other}}\n"), platformNS),
			"renamer":    stored(configMap("renamer", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /metadata/name, value: other}\n"), "staging"),
			"doomed":     deleting(protected(stored(configMap("doomed", resource.KindTarget, seedTarget), "staging"))),
			"remover":    stored(configMap("remover", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/a, value: 1}\n  - {op: remove, path: /spec/template/spec/missing}\n"), "staging"),
			"cleaner":    versioned(stored(configMap("cleaner", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: remove, path: /spec/template/spec/debug}\n"), "staging"), "uid-cleaner", "7"),
		},
		referrers: map[string][]string{
			"staging": {"top-speed-windowing"},
			"busy":    {"d00", "d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09", "d10", "d11"},
		},
	}
	deployment := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	// cleaned is a deployment as stored after target "cleaner" (version 7)
	// removed its debug field; cleanedAt says which target (UID) and
	// version the annotations record.
	cleanedDoc := "kind: Deployment\nspec:\n  deploymentTargetName: cleaner\n  template:\n    spec:\n      parallelism: 2\n"
	cleanedAt := func(uid, rv string) *corev1.ConfigMap {
		cleaner, _ := configmap.ParseTarget(context.Background(), lookup.targets["cleaner"])
		digest := resource.Digest(cleaner, cleanedDoc)
		return with(configMap("cleaned", resource.KindDeployment, cleanedDoc), func(c *corev1.ConfigMap) {
			c.Labels[resource.LabelDeploymentTarget] = "cleaner"
			c.Annotations = map[string]string{resource.AnnotationTargetNamespace: "staging",
				resource.AnnotationTargetUID: uid, resource.AnnotationTargetResourceVersion: rv, resource.AnnotationDigest: digest}
		})
	}
	relabelled := func(c *corev1.ConfigMap) *corev1.ConfigMap {
		return with(c, func(c *corev1.ConfigMap) { c.Labels["team"] = "data" })
	}
	cases := []struct {
		name     string
		golden   string
		path     string
		body     []byte
		lookup   Lookup
		pre      Preflight
		mode     rbac.Mode
		allowed  bool
		contains string
	}{
		// DeploymentTarget CREATE
		{name: "the seed's target is made immutable and annotated with its namespace", golden: "target-create-mutate", path: "/mutate",
			body: review(admissionv1.Create, nil, target), allowed: true},
		{name: "a stored target passes validation", golden: "target-create-validate", path: "/validate",
			body: review(admissionv1.Create, nil, stored(target, "staging")), allowed: true},
		{name: "a target without a namespace is warned that the platform namespace is used", golden: "target-create-no-namespace", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("local", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n")), allowed: true, contains: ""},
		{name: "a target in the platform namespace is warned", golden: "target-create-platform-namespace", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("local", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: flink-platform}\n")), allowed: true},
		{name: "a target whose patch appends to an array is warned", golden: "target-create-append", path: "/mutate",
			body: review(admissionv1.Create, nil, lookup.targets["appender"]), allowed: true},
		{name: "a target that was not made immutable is denied by validation", golden: "target-create-not-immutable", path: "/validate",
			body: review(admissionv1.Create, nil, target), contains: "immutable: true"},
		{name: "a target with a misspelled field is denied, naming the field", golden: "target-unknown-field", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchset: []\n")), contains: "did you mean spec.deploymentPatchSet"},
		{name: "a target whose document names another kind is denied", golden: "target-wrong-kind", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, yamlDeployment)), contains: `kind is "Deployment"`},
		{name: "a target with an invalid namespace name is denied", golden: "target-bad-namespace", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: Not_Valid}\n")), contains: "not a valid namespace name"},
		{name: "a target with an unknown patch op is denied, naming its index", golden: "target-bad-op", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: upsert, path: /a, value: 1}\n")), contains: "deploymentPatchSet[0]"},
		{name: "a target with a patch path that is not a JSON pointer is denied", golden: "target-bad-path", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: add, path: spec/a, value: 1}\n")), contains: "start with /"},
		{name: "a target whose patch writes the deployment's target name is denied", golden: "target-guarded-path", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: DeploymentTarget\nspec:\n  kubernetes: {}\n  deploymentPatchSet:\n  - {op: replace, path: /spec/deploymentTargetName, value: x}\n")), contains: "may not change a deployment's kind or target"},
		{name: "a target whose document does not parse is denied", golden: "target-unparsable", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, "kind: [DeploymentTarget\n")), contains: "not valid YAML"},
		{name: "a YAML alias bomb is refused without being expanded", golden: "target-alias-bomb", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, hostile.AliasBomb()+"kind: DeploymentTarget\nspec: {kubernetes: {}}\n")), contains: "expands through YAML aliases"},
		{name: "a few aliases of a long string that would expand to gigabytes are refused", golden: "target-alias-string-bomb", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, hostile.StringBomb()+"kind: DeploymentTarget\nspec: {kubernetes: {}}\n")), contains: "expands through YAML aliases"},
		{name: "a deployment using a small YAML alias is patched as usual", golden: "deployment-small-alias", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("aliased", resource.KindDeployment, "kind: Deployment\nx: &x {a: 1}\nspec:\n  deploymentTargetName: staging\n  copy: *x\n")), allowed: true},
		{name: "a target with an extra data key is denied", golden: "target-extra-key", path: "/mutate",
			body: review(admissionv1.Create, nil, with(target, func(c *corev1.ConfigMap) { c.Data["notes"] = "x" })), contains: `data keys "notes"`},
		{name: "a target whose name is not a DNS-1123 label is denied", golden: "target-bad-name", path: "/mutate",
			body: review(admissionv1.Create, nil, with(target, func(c *corev1.ConfigMap) { c.Name = "Staging.1" })), contains: "DNS-1123 label"},
		{name: "an unknown kind label value is denied", golden: "bad-kind-label", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("x", "Job", yamlDeployment)), contains: "not a flinkgate kind"},
		// preflight
		{name: "a target the platform cannot serve is denied under enforce, with the remedy", golden: "target-preflight-enforce", path: "/validate",
			body: review(admissionv1.Create, nil, stored(target, "staging")),
			pre:  fakePreflight{result: rbac.Result{Outcome: rbac.OutcomeMissing, Missing: []rbac.Permission{{Group: "apps", Resource: "deployments", Verb: "create"}}}}, mode: rbac.ModeEnforce,
			contains: "appmanager.rbac.additionalNamespaces"},
		{name: "a target the platform cannot serve is admitted with a warning under warn", golden: "target-preflight-warn", path: "/validate",
			body: review(admissionv1.Create, nil, stored(target, "staging")),
			pre:  fakePreflight{result: rbac.Result{Outcome: rbac.OutcomeMissing, Missing: []rbac.Permission{{Group: "apps", Resource: "deployments", Verb: "create"}}}}, mode: rbac.ModeWarn,
			allowed: true},
		{name: "with the preflight off a target is admitted without a check and without a warning", golden: "target-preflight-off", path: "/validate",
			body: review(admissionv1.Create, nil, stored(target, "staging")),
			pre:  fakePreflight{result: rbac.Result{Outcome: rbac.OutcomeMissing, Missing: []rbac.Permission{{Group: "apps", Resource: "deployments", Verb: "create"}}}}, mode: rbac.ModeOff,
			allowed: true},
		// DeploymentTarget UPDATE
		{name: "a change to a target's spec is denied as immutable", golden: "target-update-spec", path: "/mutate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) {
				c.Data[resource.DataKey] = strings.Replace(seedTarget, "namespace: staging", "namespace: production", 1)
			})), contains: "targets are immutable"},
		{name: "a metadata-only change to a target is allowed", golden: "target-update-metadata", path: "/validate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Labels["team"] = "data" })), allowed: true},
		{name: "a reformatted but equal spec is allowed and the stored bytes are kept", golden: "target-update-reformatted", path: "/mutate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) {
				c.Data[resource.DataKey] = `{"kind":"DeploymentTarget","spec":{"kubernetes":{"namespace":"staging"},"deploymentPatchSet":[{"op":"add","path":"/spec/template/spec/flinkConfiguration/state.checkpoints.dir","value":"s3://my-bucket/checkpoints"},{"op":"add","path":"/spec/template/spec/flinkConfiguration/state.savepoints.dir","value":"s3://my-bucket/savepoints"}]}}`
			})), allowed: true},
		{name: "removing a target's kind label is denied", golden: "target-update-label", path: "/validate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) { delete(c.Labels, resource.LabelKind) })), contains: "cannot be removed or changed"},
		{name: "adding a data key to a target is denied", golden: "target-update-data-key", path: "/validate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Data["extra"] = "1" })), contains: `data key "extra" cannot be added`},
		// DeploymentTarget DELETE
		{name: "deleting a referenced target is denied, naming the deployment", golden: "target-delete-referenced", path: "/validate",
			body: review(admissionv1.Delete, stored(target, "staging"), nil), contains: "top-speed-windowing"},
		{name: "deleting a target referenced by many deployments names ten and counts the rest", golden: "target-delete-many", path: "/validate",
			body: review(admissionv1.Delete, with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Name = "busy" }), nil), contains: "and 2 more"},
		{name: "deleting an unreferenced target is allowed", golden: "target-delete-free", path: "/validate",
			body: review(admissionv1.Delete, with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Name = "free" }), nil), allowed: true},
		{name: "a target delete is denied when references cannot be checked", golden: "target-delete-unavailable", path: "/validate",
			body:   review(admissionv1.Delete, stored(target, "staging"), nil),
			lookup: &fakeLookup{err: fmt.Errorf("connection refused")}, contains: "try again"},
		// Deployment CREATE / UPDATE / DELETE
		{name: "a YAML deployment gets the patch set, the target label and the namespace annotation", golden: "deployment-create-yaml", path: "/mutate",
			body: review(admissionv1.Create, nil, deployment), allowed: true},
		{name: "a JSON deployment stays JSON when patched", golden: "deployment-create-json", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, jsonDeployment)), allowed: true},
		{name: "an update of a deployment is patched again", golden: "deployment-update", path: "/mutate",
			body: review(admissionv1.Update, admittedDeployment(yamlDeployment), deployment), allowed: true},
		{name: "an admitted deployment passes validation", golden: "deployment-validate", path: "/validate",
			body: review(admissionv1.Create, nil, admittedDeployment(yamlDeployment)), allowed: true},
		{name: "a deployment without the target label fails validation", golden: "deployment-validate-no-label", path: "/validate",
			body: review(admissionv1.Create, nil, deployment), contains: "leave the label to flinkgate"},
		{name: "a deployment of a missing target is denied", golden: "deployment-target-missing", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "nowhere", 1))), contains: `"nowhere", which does not exist`},
		{name: "a deployment whose patch fails is denied, naming index, op and path", golden: "deployment-patch-fails", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "remover", 1))), contains: "deploymentPatchSet[1] (op remove, path /spec/template/spec/missing)"},
		{name: "a patch set that changes the target name is denied", golden: "deployment-patch-changes-target", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "kind-thief", 1))), contains: "changed spec.deploymentTargetName"},
		{name: "a deployment without a target name is denied", golden: "deployment-no-target", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, "kind: Deployment\nspec: {}\n")), contains: "spec.deploymentTargetName is missing"},
		{name: "a deployment naming a target with an impossible name is denied as invalid", golden: "deployment-bad-target-name", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, "kind: Deployment\nspec: {deploymentTargetName: a/b}\n")), contains: "cannot name a target"},
		{name: "a patch set that breaks the document's envelope is denied as a failed patch", golden: "deployment-patch-breaks-envelope", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "renamer", 1))), contains: "no longer a valid deployment"},
		{name: "a deployment being deleted may lose its finalizer even when its target is gone", golden: "deployment-finalizer-removal", path: "/mutate",
			body: review(admissionv1.Update,
				with(admittedDeployment(strings.Replace(yamlDeployment, "staging", "gone", 1)), func(c *corev1.ConfigMap) { c.Finalizers = []string{"example.com/keep"} }),
				with(admittedDeployment(strings.Replace(yamlDeployment, "staging", "gone", 1)), func(c *corev1.ConfigMap) { t := metav1.Unix(1000000000, 0); c.DeletionTimestamp = &t })),
			allowed: true},
		{name: "removing a kind label that is not flinkgate's is allowed", golden: "foreign-label-removal", path: "/validate",
			body:    review(admissionv1.Update, configMap("x", "Job", yamlDeployment), configMap("x", "", yamlDeployment)),
			allowed: true},
		{name: "integers beyond int64 keep every digit when a YAML document is rewritten", golden: "deployment-uint64", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("big", resource.KindDeployment, yamlDeployment+"  seed: 18446744073709551615\n")), allowed: true},
		{name: "a deployment created on a versioned target records the version and a digest of its document", golden: "deployment-create-versioned", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("cleaned", resource.KindDeployment, cleanedDoc+"      debug: true\n")), allowed: true},
		{name: "a metadata-only update of a deployment whose data and target are unchanged is admitted without re-applying the patch set", golden: "deployment-update-metadata-only", path: "/mutate",
			body: review(admissionv1.Update, cleanedAt("uid-cleaner", "7"), relabelled(cleanedAt("uid-cleaner", "7"))), allowed: true},
		{name: "a metadata-only update after only the target's metadata changed (a finalizer, a label) is still admitted without re-applying the patch set", golden: "deployment-update-target-metadata-changed", path: "/mutate",
			body: review(admissionv1.Update, cleanedAt("uid-cleaner", "6"), relabelled(cleanedAt("uid-cleaner", "6"))), allowed: true},
		{name: "a metadata-only update after the target was deleted and created anew re-applies the patch set", golden: "deployment-update-target-changed", path: "/mutate",
			body: review(admissionv1.Update, cleanedAt("uid-of-an-older-cleaner", "7"), relabelled(cleanedAt("uid-of-an-older-cleaner", "7"))), contains: "/spec/template/spec/debug does not exist"},
		{name: "validation admits a deployment whose document is the one patched for its target's version", golden: "deployment-validate-digest", path: "/validate",
			body: review(admissionv1.Update, cleanedAt("uid-cleaner", "7"), relabelled(cleanedAt("uid-cleaner", "7"))), allowed: true},
		{name: "validation denies a deployment whose document was rewritten after flinkgate patched it", golden: "deployment-validate-rewritten", path: "/validate",
			body: review(admissionv1.Create, nil, with(cleanedAt("uid-cleaner", "7"), func(c *corev1.ConfigMap) { c.Data[resource.DataKey] += "      debug: true\n" })), contains: "rewritten after flinkgate's mutating webhook ran"},
		{name: "a deployment whose patched document is too large is denied as too_large", golden: "deployment-too-large", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("big", resource.KindDeployment, "kind: Deployment\nspec: {deploymentTargetName: staging, blob: "+strings.Repeat("x", 1<<20-100)+"}\n")), contains: "too large"},
		{name: "a kind label with an empty value is denied on create", golden: "empty-kind-label", path: "/mutate",
			body: review(admissionv1.Create, nil, with(configMap("x", "", yamlDeployment), func(c *corev1.ConfigMap) { c.Labels = map[string]string{resource.LabelKind: ""} })), contains: "label flinkgate.io/kind is empty"},
		{name: "a target without a name (generateName) is told that targets need a name", golden: "target-generate-name", path: "/mutate",
			body: review(admissionv1.Create, nil, with(target, func(c *corev1.ConfigMap) { c.Name, c.GenerateName = "", "staging-" })), contains: "generateName cannot be used"},
		{name: "deleting a deployment is allowed", golden: "deployment-delete", path: "/validate",
			body: review(admissionv1.Delete, admittedDeployment(yamlDeployment), nil), allowed: true},
		// In-use protection
		{name: "a target update that drops the finalizer gets it back while the target is live", golden: "target-update-readds-finalizer", path: "/mutate",
			body: review(admissionv1.Update, protected(stored(target, "staging")), stored(target, "staging")), allowed: true},
		{name: "a target created before protection gets the finalizer on its next update", golden: "target-update-adds-finalizer", path: "/mutate",
			body: review(admissionv1.Update, stored(target, "staging"), with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Labels["team"] = "data" })), allowed: true},
		{name: "flinkgate's own removal of the finalizer from a live target is not undone", golden: "target-update-flinkgate-release", path: "/mutate",
			body: as(flinkgateUser, review(admissionv1.Update, protected(stored(target, "staging")), stored(target, "staging"))), allowed: true},
		{name: "a terminating target does not get the finalizer back", golden: "target-update-terminating", path: "/mutate",
			body: review(admissionv1.Update, deleting(protected(stored(target, "staging"))), deleting(stored(target, "staging"))), allowed: true},
		{name: "removing the finalizer of a referenced target is denied to anyone but flinkgate, naming the deployments", golden: "target-finalizer-removal-referenced", path: "/validate",
			body: as("alice", review(admissionv1.Update, deleting(protected(stored(target, "staging"))), deleting(stored(target, "staging")))), contains: "cannot be removed while 1 deployment(s) reference it: top-speed-windowing"},
		{name: "removing the finalizer of an unreferenced target is allowed to anyone", golden: "target-finalizer-removal-free", path: "/validate",
			body: as("alice", review(admissionv1.Update, deleting(protected(stored(configMap("free", resource.KindTarget, seedTarget), "staging"))), deleting(stored(configMap("free", resource.KindTarget, seedTarget), "staging")))), allowed: true},
		{name: "removing the finalizer of an unreferenced target deleted ten seconds ago is denied until the settle time has passed, saying how long to wait", golden: "target-finalizer-removal-settling", path: "/validate",
			body:     as("alice", review(admissionv1.Update, deletedAgo(protected(stored(configMap("free", resource.KindTarget, seedTarget), "staging")), 10*time.Second), deletedAgo(stored(configMap("free", resource.KindTarget, seedTarget), "staging"), 10*time.Second))),
			contains: "try again in 55 seconds"},
		{name: "flinkgate itself may remove the finalizer of a target deleted a second ago, since its controller waits the settle time", golden: "target-finalizer-removal-flinkgate-settling", path: "/validate",
			body: as(flinkgateUser, review(admissionv1.Update, deletedAgo(protected(stored(target, "staging")), time.Second), deletedAgo(stored(target, "staging"), time.Second))), allowed: true},
		{name: "flinkgate itself may remove the finalizer of a referenced target", golden: "target-finalizer-removal-flinkgate", path: "/validate",
			body: as(flinkgateUser, review(admissionv1.Update, deleting(protected(stored(target, "staging"))), deleting(stored(target, "staging")))), allowed: true},
		{name: "a finalizer removal is denied when references cannot be checked", golden: "target-finalizer-removal-unavailable", path: "/validate",
			body:   as("alice", review(admissionv1.Update, deleting(protected(stored(target, "staging"))), deleting(stored(target, "staging")))),
			lookup: &fakeLookup{err: fmt.Errorf("connection refused")}, contains: "try again"},
		{name: "removing a foreign finalizer of a referenced target is the owner's business", golden: "target-foreign-finalizer-removal", path: "/validate",
			body: as("alice", review(admissionv1.Update, deleting(protected(with(stored(target, "staging"), func(c *corev1.ConfigMap) { c.Finalizers = []string{"example.com/keep"} }))), deleting(protected(stored(target, "staging"))))), allowed: true},
		{name: "a deployment created for a terminating target is denied", golden: "deployment-create-terminating-target", path: "/mutate",
			body: review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "doomed", 1))), contains: `target "doomed" is being deleted; point the deployment at another target`},
		{name: "validation asks the API server whether a newly referenced target is terminating, not the cache", golden: "deployment-validate-terminating-live", path: "/validate",
			body:     review(admissionv1.Create, nil, admittedDeployment(yamlDeployment)),
			lookup:   &fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": stored(target, "staging")}, live: map[string]*corev1.ConfigMap{"staging": deleting(protected(stored(target, "staging")))}},
			contains: `target "staging" is being deleted`},
		{name: "a deployment moved to a terminating target is denied", golden: "deployment-move-to-terminating-target", path: "/mutate",
			body: review(admissionv1.Update, admittedDeployment(yamlDeployment), configMap("top-speed-windowing", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "doomed", 1))), contains: `target "doomed" is being deleted`},
		{name: "a deployment that already references a terminating target may still change, to drain it", golden: "deployment-update-terminating-target", path: "/validate",
			body: review(admissionv1.Update,
				with(admittedDeployment(strings.Replace(yamlDeployment, "staging", "doomed", 1)), func(c *corev1.ConfigMap) { c.Labels[resource.LabelDeploymentTarget] = "doomed" }),
				with(admittedDeployment(strings.Replace(yamlDeployment, "parallelism: 2", "parallelism: 1", 1)), func(c *corev1.ConfigMap) {
					c.Data[resource.DataKey] = strings.Replace(strings.Replace(yamlDeployment, "staging", "doomed", 1), "parallelism: 2", "parallelism: 1", 1)
					c.Labels[resource.LabelDeploymentTarget] = "doomed"
				})), allowed: true},
		{name: "deleting a deployment of a terminating target is allowed", golden: "deployment-delete-terminating-target", path: "/validate",
			body: review(admissionv1.Delete, with(admittedDeployment(yamlDeployment), func(c *corev1.ConfigMap) { c.Labels[resource.LabelDeploymentTarget] = "doomed" }), nil), allowed: true},
		{name: "a referenced target deleted through deletecollection (no request name) is denied by the old object's name", golden: "target-deletecollection-referenced", path: "/validate",
			body: edit(review(admissionv1.Delete, stored(target, "staging"), nil), func(r *admissionv1.AdmissionRequest) { r.Name = "" }), contains: `target "staging" is referenced by 1 deployment(s): top-speed-windowing`},
		{name: "a lookup that panics is answered with an internal error", golden: "panic", path: "/mutate",
			body: review(admissionv1.Create, nil, deployment), lookup: &fakeLookup{panics: true}, contains: "failed internally"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.lookup
			if l == nil {
				l = lookup
			}
			mode := tc.mode
			if mode == "" {
				mode = rbac.ModeOff
			}
			s, _ := newTestServer(t, l, tc.pre, mode)
			s.cfg.Self = flinkgateUser
			resp := post(t, s.Handler(), tc.path, tc.body)
			checkResponse(t, resp, tc.allowed, tc.contains, tc.golden)
			assertDryRunAgrees(t, s, tc.body)
		})
	}
}

// checkResponse checks an answer's verdict, that its message contains
// contains (if set), and the golden file of the whole answer.
func checkResponse(t *testing.T, resp *admissionv1.AdmissionResponse, allowed bool, contains, golden string) {
	t.Helper()
	if resp.Allowed != allowed {
		t.Errorf("allowed = %v, want %v (%v)", resp.Allowed, allowed, resp.Result)
	}
	if contains != "" && (resp.Result == nil || !strings.Contains(resp.Result.Message, contains)) {
		t.Errorf("message %v does not contain %q", resp.Result, contains)
	}
	compareGolden(t, golden, resp)
}

func compareGolden(t *testing.T, name string, resp *admissionv1.AdmissionResponse) {
	t.Helper()
	g := goldenResponse{Allowed: resp.Allowed, Warnings: resp.Warnings, Patch: resp.Patch, AuditAnnotations: resp.AuditAnnotations}
	if resp.Result != nil {
		g.Code, g.Message = resp.Result.Code, resp.Result.Message
	}
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "responses", name+".json"), append(got, '\n'), "go test ./webhook -update")
}

func TestUnreadableRequests(t *testing.T) {
	valid := review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, seedTarget))
	cases := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		status      int
		contains    string
	}{
		{"a body that is not JSON gets 400", http.MethodPost, "application/json", []byte("not json"), http.StatusBadRequest, "not an AdmissionReview"},
		{"an empty body gets 400", http.MethodPost, "application/json", nil, http.StatusBadRequest, "empty"},
		{"a wrong content type gets 415", http.MethodPost, "text/plain", valid, http.StatusUnsupportedMediaType, "application/json"},
		{"a JSON content type with parameters is read", http.MethodPost, "application/json; charset=utf-8", valid, http.StatusOK, `"response":{"uid"`},
		{"a JSON content type in capitals is read", http.MethodPost, "Application/JSON", valid, http.StatusOK, `"response":{"uid"`},
		{"a JSON content type with a broken parameter gets 415", http.MethodPost, "application/json; charset", valid, http.StatusUnsupportedMediaType, "application/json"},
		{"a missing content type gets 415", http.MethodPost, "", valid, http.StatusUnsupportedMediaType, "application/json"},
		{"an oversized body gets 413", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), defaultMaxBodyBytes+1), http.StatusRequestEntityTooLarge, "exceeds"},
		{"a GET gets 405", http.MethodGet, "application/json", nil, http.StatusMethodNotAllowed, "POST"},
		{"a review without a request gets 400", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), http.StatusBadRequest, "no request"},
		{"a v1beta1 review gets 400", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`), http.StatusBadRequest, "admission.k8s.io/v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, &fakeLookup{}, nil, rbac.ModeOff)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, "/validate", bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("got %d %q, want %d containing %q", rec.Code, rec.Body.String(), tc.status, tc.contains)
			}
		})
	}
}

func TestMalformedObjectsAreDeniedNotCrashed(t *testing.T) {
	cases := []struct{ name, object string }{
		{"an object that is not a ConfigMap is denied", `{"kind":"Secret","apiVersion":"v1"}`},
		{"an object whose data is not a map is denied", `{"kind":"ConfigMap","apiVersion":"v1","data":[1]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0b5f1d5e-1111-4222-8333-444455556666","operation":"CREATE","resource":{"version":"v1","resource":"configmaps"},"object":%s}}`, tc.object)
			s, _ := newTestServer(t, &fakeLookup{}, nil, rbac.ModeOff)
			resp := post(t, s.Handler(), "/mutate", []byte(body))
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "not a ConfigMap") {
				t.Errorf("got %+v, want a denial saying the object is not a ConfigMap", resp)
			}
		})
	}
}

func TestMetricsAndLogsPerDecision(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{Logger: zap.New(core), Lookup: &fakeLookup{}, PlatformNamespace: platformNS, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	post(t, s.Handler(), "/mutate", review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, yamlDeployment)))
	if got := metricValue(t, reg, "flinkgate_admission_denials_total", map[string]string{"kind": resource.KindDeployment, "operation": "CREATE", "reason": string(policy.ReasonTargetNotFound)}); got != 1 {
		t.Errorf("denials{reason=target_not_found} = %v, want 1", got)
	}
	if got := metricValue(t, reg, "flinkgate_admission_requests_total", map[string]string{"webhook": "mutate", "kind": resource.KindDeployment, "operation": "CREATE", "result": "denied"}); got != 1 {
		t.Errorf("requests{result=denied} = %v, want 1", got)
	}
	entries := logs.FilterMessage("admission decision").All()
	if len(entries) != 1 {
		t.Fatalf("got %d decision log lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	for _, k := range []string{"uid", "user", "operation", "namespace", "name", "kind", "allowed", "reason", "dry_run", "duration"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("decision log line lacks %q: %v", k, fields)
		}
	}
}

// metricValue is the value of the counter series of name with exactly labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestKindLabelIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{Lookup: &fakeLookup{}, PlatformNamespace: platformNS, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		post(t, s.Handler(), "/mutate", review(admissionv1.Create, nil, configMap("x", fmt.Sprintf("Kind%d", i), yamlDeployment)))
	}
	if got := metricValue(t, reg, "flinkgate_admission_requests_total", map[string]string{"webhook": "mutate", "kind": "other", "operation": "CREATE", "result": "denied"}); got != 5 {
		t.Errorf("five user-chosen kinds should share kind=\"other\", got %v", got)
	}
}

// BenchmarkDeploymentCreate measures a deployment CREATE through the handler
// with a 10-operation patch set.
func BenchmarkDeploymentCreate(b *testing.B) {
	lookup := benchLookup()
	s, _ := newTestServer(b, lookup, nil, rbac.ModeOff)
	h := s.Handler()
	body := review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment))
	benchAllowedCreates(b, h, body)
}

// benchLookup answers with a target whose patch set has 10 operations.
func benchLookup() *cachedLookup {
	var ps strings.Builder
	ps.WriteString("kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n")
	for i := range 10 {
		fmt.Fprintf(&ps, "  - {op: add, path: /spec/template/spec/flinkConfiguration/key%d, value: value%d}\n", i, i)
	}
	lookup := &cachedLookup{target: stored(configMap("staging", resource.KindTarget, ps.String()), "staging")}
	return lookup
}

// benchAllowedCreates posts body to h's /mutate b.N times; each answer must
// allow.
func benchAllowedCreates(b *testing.B, h http.Handler, body []byte) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) {
			b.Fatalf("unexpected answer: %s", rec.Body.String())
		}
	}
}

// cachedLookup parses its target once, like the real cache's memo.
type cachedLookup struct {
	target *corev1.ConfigMap
	parsed *resource.TargetLookup
}

func (c *cachedLookup) Target(context.Context, string, string) resource.TargetLookup {
	if c.parsed == nil {
		t, err := configmap.ParseTarget(context.Background(), c.target)
		c.parsed = &resource.TargetLookup{Target: t, Err: err}
	}
	return *c.parsed
}

func (c *cachedLookup) TargetLive(ctx context.Context, ns, name string) resource.TargetLookup {
	return c.Target(ctx, ns, name)
}

func (c *cachedLookup) Referrers(context.Context, string, string) ([]string, error) { return nil, nil }

func TestNoAnswerDependsOnEarlierRequests(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	free := with(target, func(c *corev1.ConfigMap) { c.Name = "free" })
	cases := []struct {
		name    string
		earlier []byte // posted to /validate first, as anyone reaching the port could
		path    string
		later   []byte
	}{
		{"a forged admitted deployment of a target does not make its delete referenced", review(admissionv1.Create, nil, with(admittedDeployment(strings.Replace(yamlDeployment, "staging", "free", 1)), func(c *corev1.ConfigMap) {
			c.Labels[resource.LabelDeploymentTarget] = "free"
		})), "/validate", review(admissionv1.Delete, free, nil)},
		{"a forged target delete does not make deployments of the target fail", review(admissionv1.Delete, free, nil), "/mutate",
			review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, strings.Replace(yamlDeployment, "staging", "free", 1)))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &fakeLookup{targets: map[string]*corev1.ConfigMap{"free": free}}
			s, _ := newTestServer(t, l, nil, rbac.ModeOff)
			for range 3 {
				if resp := post(t, s.Handler(), "/validate", tc.earlier); !resp.Allowed {
					t.Fatalf("the earlier request must be admitted to matter: %v", resp.Result)
				}
			}
			if resp := post(t, s.Handler(), tc.path, tc.later); !resp.Allowed {
				t.Errorf("the later request was denied after earlier forged ones: %v", resp.Result)
			}
		})
	}
}

// liveCounting answers Target as the cache does for a target it has not
// seen (live: a fresh read) or has (not live), and counts TargetLive calls.
type liveCounting struct {
	fakeLookup
	targetIsLive bool
	liveReads    int
}

func (l *liveCounting) Target(ctx context.Context, ns, name string) resource.TargetLookup {
	found := l.fakeLookup.Target(ctx, ns, name)
	found.Live = l.targetIsLive
	return found
}

func (l *liveCounting) TargetLive(ctx context.Context, ns, name string) resource.TargetLookup {
	l.liveReads++
	found := l.fakeLookup.TargetLive(ctx, ns, name)
	found.Live = true
	return found
}

func TestANewReferenceReadsItsTargetLiveOnce(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	cases := []struct {
		name          string
		targetIsLive  bool
		wantLiveReads int
	}{
		{"A target found in the cache is read again live before a new reference to it is admitted.", false, 1},
		{"A target the cache lacked, already read live to find it, is not read live a second time.", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &liveCounting{fakeLookup: fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": target}}, targetIsLive: tc.targetIsLive}
			s, _ := newTestServer(t, l, nil, rbac.ModeOff)
			if resp := post(t, s.Handler(), "/validate", review(admissionv1.Create, nil, admittedDeployment(yamlDeployment))); !resp.Allowed {
				t.Fatalf("the deployment was denied: %v", resp.Result)
			}
			if l.liveReads != tc.wantLiveReads {
				t.Errorf("the target was read live %d more times, want %d", l.liveReads, tc.wantLiveReads)
			}
		})
	}
}

// A deletecollection sends each item's DELETE with an empty request name;
// the decision log names the object anyway, from the old object.
func TestDecisionLogNamesTheObject(t *testing.T) {
	target := stored(configMap("staging", resource.KindTarget, seedTarget), "staging")
	cases := []struct {
		name string
		body []byte
		want string
	}{
		{name: "A DELETE with the request's name logs that name.", body: review(admissionv1.Delete, target, nil), want: "staging"},
		{name: "A DELETE of a deletecollection, whose request has no name, logs the old object's name.",
			body: edit(review(admissionv1.Delete, target, nil), func(r *admissionv1.AdmissionRequest) { r.Name = "" }), want: "staging"},
		{name: "A CREATE logs the new object's name.", body: review(admissionv1.Create, nil, configMap("job", resource.KindDeployment, yamlDeployment)), want: "job"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			s, err := NewServer(Config{Logger: zap.New(core), Lookup: &fakeLookup{}, PlatformNamespace: platformNS, Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			post(t, s.Handler(), "/validate", tc.body)
			entries := logs.FilterMessage("admission decision").All()
			if len(entries) != 1 {
				t.Fatalf("got %d decision log lines, want 1", len(entries))
			}
			if got := entries[0].ContextMap()["name"]; got != tc.want {
				t.Errorf("decision log name = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzDecodedReviewsAreAnswered decides whatever the wire format decodes:
// no panic may escape, and none may become an internal error.
func FuzzDecodedReviewsAreAnswered(f *testing.F) {
	f.Add(review(admissionv1.Create, nil, configMap("staging", resource.KindTarget, seedTarget)))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}}`))
	f.Add([]byte(`{}`))
	f.Add(appliedReview(f, admissionv1.Update))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":{"Name":"x","labels":{"a\u00e9":null}},"binaryData":{"b":"aGk="},"data":{"k":"\ud83d\ude00"}}}}`))
	s, _ := newTestServer(f, &fakeLookup{}, nil, rbac.ModeOff)
	f.Fuzz(func(t *testing.T, body []byte) {
		rv, err := wire.DecodeReview(body)
		if err != nil {
			return
		}
		d, _, before := s.decideSafely(context.Background(), policy.StageMutate, rv)
		if d.Reason == policy.ReasonInternal {
			t.Errorf("decoded review caused an internal error: %s", body)
		}
		_, _, _ = s.response(rv.Request, before, d, nil)
	})
}
