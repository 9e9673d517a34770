package check

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/webhook"
)

const (
	storedTarget = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/state.backend, value: rocksdb}\n"
	editedTarget = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/state.backend, value: hashmap}\n"
	jobDoc       = "kind: Deployment\nspec:\n  deploymentTargetName: staging\n  template:\n    spec:\n      parallelism: 3\n"
)

// admitted runs inputs through a fresh check with nothing stored, and
// returns the objects as stored, for seeding a fake cluster.
func admitted(t *testing.T, inputs ...Input) []runtime.Object {
	t.Helper()
	targets := &Targets{}
	results := run(t, targets, nil, inputs...)
	var out []runtime.Object
	for _, r := range results {
		if !r.Allowed {
			t.Fatalf("seeding %s: denied: %s", r.Source, r.Status.Message)
		}
		cm := r.Object.DeepCopy()
		cm.UID, cm.ResourceVersion = types.UID("uid-"+cm.Name), "7"
		out = append(out, cm)
	}
	return out
}

func run(t *testing.T, targets *Targets, store Store, inputs ...Input) []Result {
	t.Helper()
	s, err := webhook.NewServer(webhook.Config{Lookup: targets, PlatformNamespace: "flink-platform"})
	if err != nil {
		t.Fatal(err)
	}
	results, err := Run(context.Background(), s, targets, store, inputs)
	if err != nil {
		t.Fatal(err)
	}
	return results
}

func input(source, name, kind, doc string) Input {
	return Input{Source: source, ConfigMap: targetCM(name, kind, doc)}
}

func TestRunChecksStoredObjectsAsUpdates(t *testing.T) {
	stored := admitted(t, input("staging.yaml", "staging", resource.KindTarget, storedTarget), input("job.yaml", "job", resource.KindDeployment, jobDoc))
	cases := []struct {
		name   string
		inputs []Input
		// check is about the last input's result.
		wantOp       policy.Operation
		wantAllowed  bool
		wantReason   string
		wantContains string // in the stored document
		wantWarning  string
	}{
		{name: "A target whose namespace was edited in the file is an UPDATE of the stored target and denied as immutable.",
			inputs: []Input{input("staging.yaml", "staging", resource.KindTarget, editedTarget)},
			wantOp: policy.Update, wantReason: string(policy.ReasonImmutable)},
		{name: "An unchanged stored target is an UPDATE and admitted.",
			inputs: []Input{input("staging.yaml", "staging", resource.KindTarget, storedTarget)},
			wantOp: policy.Update, wantAllowed: true},
		{name: "A new deployment next to a file target that contradicts the stored one is patched by the stored target, with a warning naming the conflict.",
			inputs: []Input{input("staging.yaml", "staging", resource.KindTarget, editedTarget), input("new.yaml", "new", resource.KindDeployment, jobDoc)},
			wantOp: policy.Create, wantAllowed: true, wantContains: "state.backend: rocksdb", wantWarning: `target "staging" in staging.yaml differs from the target of that name stored`},
		{name: "An unchanged stored deployment is an UPDATE, patched again by the stored target.",
			inputs: []Input{input("job.yaml", "job", resource.KindDeployment, jobDoc)},
			wantOp: policy.Update, wantAllowed: true, wantContains: "state.backend: rocksdb"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cluster := Cluster{Client: fake.NewClientset(stored...)}
			results := run(t, &Targets{Cluster: cluster}, cluster, tc.inputs...)
			r := results[len(results)-1]
			if r.Operation != tc.wantOp || r.Allowed != tc.wantAllowed || r.Reason != tc.wantReason {
				t.Fatalf("got %s allowed %v reason %q (%v); want %s allowed %v reason %q", r.Operation, r.Allowed, r.Reason, r.Status, tc.wantOp, tc.wantAllowed, tc.wantReason)
			}
			if tc.wantContains != "" && !strings.Contains(r.Object.Data[resource.DataKey], tc.wantContains) {
				t.Errorf("the stored document lacks %q:\n%s", tc.wantContains, r.Object.Data[resource.DataKey])
			}
			if got := strings.Join(r.Warnings, "\n"); tc.wantWarning == "" && got != "" || !strings.Contains(got, tc.wantWarning) {
				t.Errorf("warnings %q, want %q", got, tc.wantWarning)
			}
		})
	}
}

func TestWriteSaysWhenExistingObjectsWereNotConsidered(t *testing.T) {
	results := run(t, &Targets{}, nil, input("staging.yaml", "staging", resource.KindTarget, storedTarget))
	cases := []struct {
		name    string
		format  Format
		cluster bool
		want    string
		stream  func(out, diag string) string
	}{
		{name: "Without a cluster the summary says that existing objects were not considered.", format: FormatManifest,
			want: "objects that already exist", stream: func(_, diag string) string { return diag }},
		{name: "Without a cluster the JSON report says that existing objects were not considered.", format: FormatJSON,
			want: `"existingObjectsConsidered": false`, stream: func(out, _ string) string { return out }},
		{name: "With a cluster the JSON report says that existing objects were considered.", format: FormatJSON, cluster: true,
			want: `"existingObjectsConsidered": true`, stream: func(out, _ string) string { return out }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, diag bytes.Buffer
			if err := Write(&out, &diag, tc.format, results, nil, tc.cluster); err != nil {
				t.Fatal(err)
			}
			if got := tc.stream(out.String(), diag.String()); !strings.Contains(got, tc.want) {
				t.Errorf("output %q lacks %q", got, tc.want)
			}
		})
	}
}
