package resource_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/jsonvalue"
	"flinkgate.io/flinkgate/internal/patchset"
	"flinkgate.io/flinkgate/internal/resource"
)

// patchTarget parses a target whose patch set is the JSON list ops.
func patchTarget(t testing.TB, ops string) *resource.Target {
	t.Helper()
	doc := `{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":` + ops + `}}`
	tg, err := resource.ParseTarget(context.Background(), resource.Object{Name: "t", Namespace: "ns", UID: "u", Data: map[string]string{resource.DataKey: doc}})
	if err != nil {
		t.Fatalf("parse target %s: %v", ops, err)
	}
	return tg
}

func TestPatchedRewritesTheDocumentOnlyWhenThePatchSetChangesIt(t *testing.T) {
	// A comment keeps the document from being what the writer would write,
	// so an unchanged document is recognisably the one the user sent.
	const doc = "# mine\nkind: Deployment\nspec:\n  deploymentTargetName: t\n  num: 1\n  str: x\n  l: [1, 2]\n"
	cases := []struct {
		name    string
		ops     string
		changed bool
		want    string // the new document when changed
	}{
		{"an add of a new member changes the document", `[{"op":"add","path":"/spec/a","value":"v"}]`, true,
			"kind: Deployment\nspec:\n  a: v\n  deploymentTargetName: t\n  l:\n  - 1\n  - 2\n  num: 1\n  str: x\n"},
		{"an add of the value a member already has changes nothing", `[{"op":"add","path":"/spec/str","value":"x"}]`, false, ""},
		{"a replace with the same number written otherwise changes nothing", `[{"op":"replace","path":"/spec/num","value":1.0}]`, false, ""},
		{"a replace with another value changes the document though the values are as many", `[{"op":"replace","path":"/spec/num","value":2}]`, true,
			"kind: Deployment\nspec:\n  deploymentTargetName: t\n  l:\n  - 1\n  - 2\n  num: 2\n  str: x\n"},
		{"an add and the removal of the same member change nothing", `[{"op":"add","path":"/spec/a","value":{"b":1}},{"op":"remove","path":"/spec/a"}]`, false, ""},
		{"an add of one member and the removal of another change the document", `[{"op":"add","path":"/spec/a","value":"x"},{"op":"remove","path":"/spec/str"}]`, true,
			"kind: Deployment\nspec:\n  a: x\n  deploymentTargetName: t\n  l:\n  - 1\n  - 2\n  num: 1\n"},
		{"a test alone changes nothing", `[{"op":"test","path":"/spec/l","value":[1,2]}]`, false, ""},
		{"a move onto itself changes nothing", `[{"op":"move","from":"/spec/str","path":"/spec/str"}]`, false, ""},
		{"swapping two list items changes the document", `[{"op":"move","from":"/spec/l/0","path":"/spec/l/-"}]`, true,
			"kind: Deployment\nspec:\n  deploymentTargetName: t\n  l:\n  - 2\n  - 1\n  num: 1\n  str: x\n"},
		{"moving a member back where it was changes nothing", `[{"op":"move","from":"/spec/str","path":"/spec/z"},{"op":"move","from":"/spec/z","path":"/spec/str"}]`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dep, err := resource.ParseDeployment(context.Background(), resource.Object{Name: "d", Namespace: "ns", Data: map[string]string{resource.DataKey: doc}})
			if err != nil {
				t.Fatal(err)
			}
			out, changed, err := dep.Patched(context.Background(), patchTarget(t, tc.ops))
			if err != nil {
				t.Fatalf("patched: %v", err)
			}
			want := doc
			if tc.changed {
				want = tc.want
			}
			if changed != tc.changed || out != want {
				t.Errorf("got changed %v and\n%s\nwant changed %v and\n%s", changed, out, tc.changed, want)
			}
		})
	}
}

// TestPatchedDecidesAsAComparisonWithACopyWould applies random patch sets
// to random deployments and checks Patched against the plain way of telling
// whether they changed the document: copy the tree before applying, compare
// after.
func TestPatchedDecidesAsAComparisonWithACopyWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	paths := []string{"/spec/a", "/spec/b", "/spec/a/x", "/spec/l/0", "/spec/l/1", "/spec/l/-", "/spec/m", "/spec/m/k", "/apiVersion"}
	values := []string{`1`, `1.0`, `10e-1`, `2`, `"x"`, `"1"`, `null`, `true`, `{}`, `{"x":1}`, `{"k":1.0}`, `[]`, `[1,2]`, `[1.0,2]`}
	docs := []string{
		"kind: Deployment\nspec:\n  deploymentTargetName: t\n  a: {x: 1}\n  b: 1\n  m: {k: '1'}\n  l: [{}, 1]\n",
		"kind: Deployment\n# c\nspec:\n  deploymentTargetName: t\n  a: 1\n  l: [1, 2]\n  m: {k: 1}\n",
		`{"kind":"Deployment","spec":{"deploymentTargetName":"t","a":{"x":1},"l":[1.0,2],"b":"x"}}`,
		"{\n  \"kind\": \"Deployment\",\n  \"apiVersion\": \"x\",\n  \"spec\": {\"deploymentTargetName\": \"t\", \"m\": {}}\n}\n",
	}
	tried, changedSeen, sameSeen := 0, 0, 0
	for range 8000 {
		var ops []string
		for range rng.IntN(4) {
			path := paths[rng.IntN(len(paths))]
			switch op := []string{"add", "remove", "replace", "move", "copy", "test"}[rng.IntN(6)]; op {
			case "remove":
				ops = append(ops, fmt.Sprintf(`{"op":"remove","path":%q}`, path))
			case "move", "copy":
				ops = append(ops, fmt.Sprintf(`{"op":%q,"from":%q,"path":%q}`, op, paths[rng.IntN(len(paths))], path))
			default:
				ops = append(ops, fmt.Sprintf(`{"op":%q,"path":%q,"value":%s}`, op, path, values[rng.IntN(len(values))]))
			}
		}
		if rng.IntN(3) == 0 {
			// An add undone: the values are as many as before.
			path := paths[rng.IntN(len(paths))]
			ops = append(ops, fmt.Sprintf(`{"op":"add","path":%q,"value":%s},{"op":"remove","path":%q}`, path, values[rng.IntN(len(values))], path))
		}
		patch := "[" + strings.Join(ops, ",") + "]"
		raw := docs[rng.IntN(len(docs))]
		tg, err := resource.ParseTarget(context.Background(), resource.Object{Name: "t", Namespace: "ns", Data: map[string]string{resource.DataKey: `{"kind":"DeploymentTarget","spec":{"kubernetes":{},"deploymentPatchSet":` + patch + `}}`}})
		if err != nil {
			continue // a move into its own child
		}
		dep, err := resource.ParseDeployment(context.Background(), resource.Object{Name: "d", Namespace: "ns", Data: map[string]string{resource.DataKey: raw}})
		if err != nil {
			t.Fatal(err)
		}
		out, changed, err := dep.Patched(context.Background(), tg)
		if err != nil {
			continue // the reference below applies the same operations to the same tree
		}
		tried++
		ref, _ := codec.Decode(context.Background(), raw)
		before := jsonvalue.DeepCopy(ref.Tree)
		after, err := patchset.Apply(context.Background(), ref.Tree, tg.PatchSet, patchset.Limits{})
		if err != nil {
			t.Fatalf("%s on %q: Patched applied it, the reference failed: %v", patch, raw, err)
		}
		want, wantChanged := raw, !jsonvalue.Equal(before, after)
		if wantChanged {
			changedSeen++
			if want, err = dep.Doc.Encode(context.Background(), after); err != nil {
				t.Fatal(err)
			}
		} else {
			sameSeen++
		}
		if changed != wantChanged || out != want {
			t.Errorf("%s on %q: got changed %v and %q, want changed %v and %q", patch, raw, changed, out, wantChanged, want)
		}
	}
	// The generator must reach both answers often, or the test proves little.
	if changedSeen < 500 || sameSeen < 300 {
		t.Errorf("only %d changed and %d unchanged documents of %d patched; widen the generator", changedSeen, sameSeen, tried)
	}
}
