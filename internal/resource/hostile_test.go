package resource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/codec"
	"flinkgate.io/flinkgate/internal/golden"
	"flinkgate.io/flinkgate/internal/hostile"
	"flinkgate.io/flinkgate/internal/patchset"
	"flinkgate.io/flinkgate/internal/resource"
)

const corpusDir = "../../testdata/hostile"

// item is one object of a corpus file and what admission must say to it.
type item struct {
	name, kind, doc string
	// expect is the outcome: allowed, invalid, too_large, patch_failed, or
	// target_not_found for a deployment whose target was refused.
	expect string
	// check, if set, is asserted on an allowed deployment's new document.
	check func(t *testing.T, out string)
}

type corpusFile struct {
	file, what string
	items      []item
}

func seedTarget(name string) item {
	return item{name: name, kind: resource.KindTarget, expect: "allowed", doc: hostile.SeedTarget}
}

func target(name, patchSet string) item {
	return item{name: name, kind: resource.KindTarget, expect: "allowed",
		doc: "kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: staging\n  deploymentPatchSet:\n" + patchSet}
}

func expecting(it item, expect string) item {
	it.expect = expect
	return it
}

func deployment(name, doc, expect string) item {
	return item{name: name, kind: resource.KindDeployment, doc: doc, expect: expect}
}

func repeatJoin(s string, n int, sep string) string {
	return strings.TrimSuffix(strings.Repeat(s+sep, n), sep)
}

// wideTree is a deployment spec about size bytes long, nesting depth levels,
// written in flow style or block style; both spell the same document.
func wideTree(depth, fanout int, flow bool, indent string) string {
	var b strings.Builder
	var write func(level int, indent string)
	write = func(level int, indent string) {
		if flow {
			b.WriteString("{")
		}
		for i := range fanout {
			key := fmt.Sprintf("key%d", i)
			switch {
			case flow && i > 0:
				b.WriteString(", ")
			case !flow:
				b.WriteString("\n" + indent)
			}
			if level == depth || i > 0 {
				fmt.Fprintf(&b, "%s: value-%d-%d", key, level, i)
				continue
			}
			b.WriteString(key + ": ")
			write(level+1, indent+"  ")
		}
		if flow {
			b.WriteString("}")
		}
	}
	write(1, indent)
	return b.String()
}

func hostileCorpus() []corpusFile {
	deep := func(n int) string { return strings.Repeat("{a: ", n) + "1" + strings.Repeat("}", n) }
	deepJSON := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	wideFlow := "kind: Deployment\nspec: {deploymentTargetName: hostile-wide-flow, template: " + wideTree(60, 40, true, "") + "}\n"
	wideBlock := "kind: Deployment\nspec:\n  deploymentTargetName: hostile-wide-block\n  template:" + wideTree(60, 40, false, "    ") + "\n"
	var wideJSON strings.Builder
	wideJSON.WriteString(`{"kind":"Deployment","spec":{"deploymentTargetName":"hostile-compact-json","template":`)
	for i := range 30 {
		fmt.Fprintf(&wideJSON, `{"level%d":[%s],"next":`, i, repeatJoin(`"value-value-value-value"`, 45, ","))
		if i == 15 {
			wideJSON.WriteString("\n")
		}
	}
	wideJSON.WriteString(`{}` + strings.Repeat("}", 30) + "}}")
	blob := strings.Repeat("x", 5<<10)
	var copies strings.Builder
	copies.WriteString("  - {op: add, path: /spec/blob, value: " + blob + "}\n")
	for i := range 200 {
		fmt.Fprintf(&copies, "  - {op: copy, from: /spec/blob, path: /spec/c%d}\n", i)
	}
	var tooMany strings.Builder
	for i := range patchset.MaxOperations + 44 {
		fmt.Fprintf(&tooMany, "  - {op: add, path: /spec/k%d, value: v}\n", i)
	}
	var fronts strings.Builder
	for range patchset.MaxOperations {
		fronts.WriteString("  - {op: add, path: /spec/list/0, value: 1}\n")
	}
	nestedValue := strings.Repeat("[", 10) + "1" + strings.Repeat("]", 10)
	aliasBomb := func(name string) string {
		return hostile.AliasBomb() + "kind: Deployment\nspec: {deploymentTargetName: " + name + "}\n"
	}
	stringBomb := hostile.StringBomb() + "kind: Deployment\nspec: {deploymentTargetName: hostile-alias-string-bomb}\n"
	hasKey := func(key string) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			doc, err := codec.Decode(context.Background(), out)
			if err != nil {
				t.Fatalf("the patched document does not decode: %v", err)
			}
			fc := doc.Tree["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)
			if _, ok := fc[key]; !ok {
				t.Errorf("the patched document has no key %q in flinkConfiguration:\n%s", key, out)
			}
		}
	}
	contains := func(want string) func(t *testing.T, out string) {
		return func(t *testing.T, out string) {
			if !strings.Contains(out, want) {
				t.Errorf("the patched document lacks %q:\n%.500s", want, out)
			}
		}
	}
	return []corpusFile{
		{"deep-flow-yaml.yaml", "the seed's target and a ~45 KB deployment of flow-style YAML nested 9000 deep (once a 77 MiB patch)", []item{
			seedTarget("hostile-deep-flow"),
			deployment("deep-flow", "kind: Deployment\nspec: {deploymentTargetName: hostile-deep-flow, template: "+deep(9000)+"}\n", "too_large")}},
		{"wide-flow-yaml.yaml", "a ~45 KB deployment in flow style, 60 levels deep and 40 keys wide at each level: re-written in block style", []item{
			seedTarget("hostile-wide-flow"), deployment("wide-flow", wideFlow, "allowed")}},
		{"wide-block-yaml.yaml", "the same document as wide-flow-yaml.yaml in block style: costs about the same", []item{
			seedTarget("hostile-wide-block"), deployment("wide-block", wideBlock, "allowed")}},
		{"deep-compact-json.yaml", "a ~36 KB compact JSON deployment with one newline, nested 6000 deep", []item{
			seedTarget("hostile-deep-json"),
			deployment("deep-json", `{"kind":"Deployment","spec":{"deploymentTargetName":"hostile-deep-json",`+"\n"+`"template":`+deepJSON(6000)+"}}", "too_large")}},
		{"compact-json-one-newline.yaml", "a ~36 KB compact JSON deployment with one newline inside: stays compact when patched", []item{
			seedTarget("hostile-compact-json"),
			{name: "compact-json", kind: resource.KindDeployment, doc: wideJSON.String(), expect: "allowed", check: func(t *testing.T, out string) {
				if n := strings.Count(out, "\n"); n > 0 {
					t.Errorf("the patched compact JSON document has %d newlines; it should stay compact", n)
				}
			}}}},
		{"target-long-add-path.yaml", "a ~12 KB target whose add path has 6000 tokens", []item{
			expecting(target("hostile-long-path", "  - op: add\n    path: "+strings.Repeat("/a", 6000)+"\n    value: 1\n"), "invalid"),
		}},
		{"target-string-copies.yaml", "a ~15 KB target that adds a 5 KB string and copies it 200 times", []item{
			target("hostile-string-copies", copies.String()),
			deployment("string-copies", "kind: Deployment\nspec: {deploymentTargetName: hostile-string-copies}\n", "patch_failed")}},
		{"target-too-many-ops.yaml", fmt.Sprintf("a target with %d operations", patchset.MaxOperations+44), []item{
			expecting(target("hostile-too-many-ops", tooMany.String()), "invalid")}},
		{"multi-document.yaml", "a deployment whose resource.yaml holds two YAML documents", []item{
			seedTarget("hostile-multi-doc"),
			deployment("multi-doc", "kind: Deployment\nspec: {deploymentTargetName: hostile-multi-doc}\n---\nkind: Deployment\nspec: {deploymentTargetName: other}\n", "invalid")}},
		{"duplicate-keys-yaml.yaml", "a YAML deployment that sets parallelism twice", []item{
			seedTarget("hostile-dup-yaml"),
			deployment("dup-yaml", "kind: Deployment\nspec:\n  deploymentTargetName: hostile-dup-yaml\n  template:\n    spec:\n      parallelism: 2\n      parallelism: 4\n", "invalid")}},
		{"duplicate-keys-json.yaml", "a JSON deployment that names its target twice", []item{
			seedTarget("hostile-dup-json"),
			deployment("dup-json", `{"kind":"Deployment","spec":{"deploymentTargetName":"hostile-dup-json","deploymentTargetName":"other"}}`, "invalid")}},
		{"big-integer-test.yaml", "a target that tests for 2^53+1 and a deployment holding 2^53", []item{
			target("hostile-int-test", "  - {op: test, path: /spec/seed, value: 9007199254740993}\n"),
			deployment("int-test", "kind: Deployment\nspec: {deploymentTargetName: hostile-int-test, seed: 9007199254740992}\n", "patch_failed")}},
		{"big-integer-replace.yaml", "a target that replaces 2^53 by 2^53+1: the change must not be dropped", []item{
			target("hostile-int-replace", "  - {op: replace, path: /spec/seed, value: 9007199254740993}\n"),
			{name: "int-replace", kind: resource.KindDeployment, doc: "kind: Deployment\nspec: {deploymentTargetName: hostile-int-replace, seed: 9007199254740992}\n", expect: "allowed",
				check: contains("seed: 9007199254740993\n")}}},
		{"merge-key.yaml", "a target that adds the key << (a YAML merge key when unquoted)", []item{
			target("hostile-merge-key", "  - {op: add, path: /spec/template/spec/flinkConfiguration/<<, value: x}\n"),
			{name: "merge-key", kind: resource.KindDeployment, doc: "kind: Deployment\nspec: {deploymentTargetName: hostile-merge-key}\n", expect: "allowed", check: hasKey("<<")}}},
		{"yaml11-strings.yaml", "a target that adds keys and strings YAML 1.1 reads as booleans, null or numbers", []item{
			target("hostile-yaml11", "  - op: add\n    path: /spec/template/spec/flinkConfiguration\n    value: {'yes': 'no', 'on': '~', '010': '1e3', 'null': '0x1F', 'y': '.inf'}\n"),
			{name: "yaml11", kind: resource.KindDeployment, doc: "kind: Deployment\nspec: {deploymentTargetName: hostile-yaml11}\n", expect: "allowed", check: func(t *testing.T, out string) {
				for _, k := range []string{"yes", "on", "010", "null", "y"} {
					hasKey(k)(t, out)
				}
				contains(`"yes": "no"`)(t, out)
			}}}},
		{"alias-bomb.yaml", "a deployment whose YAML aliases would expand to 9^9 values", []item{
			seedTarget("hostile-alias-bomb"), deployment("alias-bomb", aliasBomb("hostile-alias-bomb"), "too_large")}},
		{"alias-string-bomb.yaml", "a deployment whose aliases repeat a 10 KB string 10 000 times", []item{
			seedTarget("hostile-alias-string-bomb"), deployment("alias-string-bomb", stringBomb, "too_large")}},
		{"over-1mib.yaml", "a deployment document larger than a ConfigMap may hold", []item{
			seedTarget("hostile-over-1mib"),
			deployment("over-1mib", "kind: Deployment\nspec: {deploymentTargetName: hostile-over-1mib}\nblob: "+strings.Repeat("x", codec.MaxDocumentBytes)+"\n", "too_large")}},
		{"patched-over-1mib.yaml", "a 600 KB deployment whose target copies its largest string twice", []item{
			target("hostile-patched-over", "  - {op: copy, from: /spec/blob, path: /spec/a}\n  - {op: copy, from: /spec/blob, path: /spec/b}\n"),
			deployment("patched-over", "kind: Deployment\nspec: {deploymentTargetName: hostile-patched-over, blob: "+strings.Repeat("x", 600<<10)+"}\n", "too_large")}},
		{"too-many-values-json.yaml", "a ~120 KB JSON deployment with 60 000 values", []item{
			seedTarget("hostile-many-values"),
			deployment("many-values", `{"kind":"Deployment","spec":{"deploymentTargetName":"hostile-many-values","l":[`+repeatJoin("0", 60000, ",")+"]}}", "too_large")}},
		{"too-many-entries-yaml.yaml", "a ~240 KB YAML deployment with 120 000 list entries, refused before parsing", []item{
			seedTarget("hostile-many-entries"),
			deployment("many-entries", "kind: Deployment\nspec: {deploymentTargetName: hostile-many-entries, l: ["+repeatJoin("0", 120000, ",")+"]}\n", "too_large")}},
		{"append-missing-parent.yaml", "a target that appends to an array the deployment does not have", []item{
			target("hostile-append", "  - {op: add, path: /spec/template/spec/args/-, value: --verbose}\n"),
			deployment("append", "kind: Deployment\nspec: {deploymentTargetName: hostile-append}\n", "patch_failed")}},
		{"patch-nests-too-deep.yaml", "a target whose add path (60 tokens) and value (10 levels) nest the document beyond 64 levels", []item{
			target("hostile-nests-deep", "  - {op: add, path: "+strings.Repeat("/n", 60)+", value: "+nestedValue+"}\n"),
			deployment("nests-deep", "kind: Deployment\nspec: {deploymentTargetName: hostile-nests-deep}\n", "too_large")}},
		{"front-inserts.yaml", fmt.Sprintf("a target with %d inserts at the front of a deployment's 10 000-element list", patchset.MaxOperations), []item{
			target("hostile-front-inserts", fronts.String()),
			deployment("front-inserts", `{"kind":"Deployment","spec":{"deploymentTargetName":"hostile-front-inserts","list":[`+repeatJoin("0", 10000, ",")+"]}}", "patch_failed")}},
		{"special-float.yaml", "a deployment holding .inf, which JSON cannot hold", []item{
			seedTarget("hostile-special-float"),
			deployment("special-float", "kind: Deployment\nspec: {deploymentTargetName: hostile-special-float, x: .inf}\n", "invalid")}},
		{"target-deep-value.yaml", "a target whose add value nests 100 levels deep", []item{
			expecting(target("hostile-deep-value", "  - {op: add, path: /spec/x, value: "+strings.Repeat("[", 100)+strings.Repeat("]", 100)+"}\n"), "too_large")}},
	}
}

// expectations of a file's objects, as its header states them.
func header(f corpusFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", f.what)
	for _, it := range f.items {
		fmt.Fprintf(&b, "# expect: %s %s\n", it.name, it.expect)
	}
	return b.String()
}

func manifest(f corpusFile) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header(f))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	for _, it := range f.items {
		data := str(it.doc)
		data.Style = yaml.LiteralStyle
		n := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			str("apiVersion"), str("v1"),
			str("kind"), str("ConfigMap"),
			str("metadata"), {Kind: yaml.MappingNode, Content: []*yaml.Node{
				str("name"), str(it.name),
				str("labels"), {Kind: yaml.MappingNode, Content: []*yaml.Node{str(resource.LabelKind), str(it.kind)}},
			}},
			str("data"), {Kind: yaml.MappingNode, Content: []*yaml.Node{str(resource.DataKey), data}},
		}}
		if err := enc.Encode(n); err != nil {
			return nil, fmt.Errorf("encode %s: %w", it.name, err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	return buf.Bytes(), nil
}

func readme(files []corpusFile) string {
	var b strings.Builder
	b.WriteString(`# Hostile inputs

Each file is a multi-document manifest of ConfigMaps, targets first, to apply in one
namespace (for example with ` + "`kubectl apply -n <ns> -f <file>`" + `). Its header comment
says what it is and, per object, what admission must answer: ` + "`allowed`" + `, or the
denial reason (` + "`invalid`, `too_large`, `patch_failed`" + `, or ` + "`target_not_found`" + ` for a
deployment whose target was refused). Target names are unique across the files.

The files are generated by ` + "`go test ./resource -run TestHostileCorpus -update`" + ` from
` + "`resource/hostile_test.go`" + `, which also runs each of them through decoding, patching
and encoding within the per-request budget (64 MiB allocated, 1 s).
[Bounds](../../docs/security.md#bounds) explains the limits they hit.

| file | what |
| --- | --- |
`)
	for _, f := range files {
		fmt.Fprintf(&b, "| `%s` | %s |\n", f.file, f.what)
	}
	return b.String()
}

func TestHostileCorpusIsUpToDate(t *testing.T) {
	files := hostileCorpus()
	want := map[string][]byte{"README.md": []byte(readme(files))}
	for _, f := range files {
		m, err := manifest(f)
		if err != nil {
			t.Fatal(err)
		}
		want[f.file] = m
	}
	for name, b := range want {
		golden.Check(t, filepath.Join(corpusDir, name), b, "go test ./resource -run TestHostileCorpus -update")
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("%s is not generated by hostileCorpus; remove it or add it there", e.Name())
		}
	}
}

// outcome is the denial reason policy gives an error, or "allowed".
func outcome(err error) string {
	var tl *resource.TooLargeError
	var inv *resource.InvalidError
	switch {
	case err == nil:
		return "allowed"
	case errors.As(err, &tl):
		return "too_large"
	case errors.As(err, &inv):
		return "invalid"
	}
	return "patch_failed"
}

// TestHostileCorpus runs every file of testdata/hostile through parsing,
// patching and encoding, and checks each object gets the expected outcome
// within the per-request budget.
func TestHostileCorpus(t *testing.T) {
	files := hostileCorpus()
	sort.Slice(files, func(i, j int) bool { return files[i].file < files[j].file })
	for _, f := range files {
		t.Run(f.file, func(t *testing.T) {
			objs, err := hostile.ReadFile(filepath.Join(corpusDir, f.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(f.items) {
				t.Fatalf("%d objects in the file, %d in hostileCorpus; regenerate it", len(objs), len(f.items))
			}
			targets := map[string]*resource.Target{}
			for i, o := range objs {
				it := f.items[i]
				cm := resource.Object{Name: o.Name, Namespace: "ns", Data: o.Data}
				var got, out string
				u := budget.Measure(func() { got, out = admit(cm, o.Labels[resource.LabelKind], targets) })
				t.Logf("%s: %s (%s)", it.name, got, u)
				if !u.Within() {
					t.Errorf("%s took %s, beyond the budget", it.name, u)
				}
				if got != it.expect {
					t.Errorf("%s: got %s, want %s", it.name, got, it.expect)
				}
				if it.check != nil && got == "allowed" {
					it.check(t, out)
				}
			}
		})
	}
}

// admit does what the admission path does with one object: parse a target
// and remember it, or parse a deployment and apply its target.
func admit(cm resource.Object, kind string, targets map[string]*resource.Target) (string, string) {
	ctx := context.Background()
	if kind == resource.KindTarget {
		tg, err := resource.ParseTarget(ctx, cm)
		if err == nil {
			targets[tg.Name] = tg
		}
		return outcome(err), ""
	}
	dep, err := resource.ParseDeployment(ctx, cm)
	if err != nil {
		return outcome(err), ""
	}
	tg, ok := targets[dep.TargetName]
	if !ok {
		return "target_not_found", ""
	}
	out, _, err := dep.Patched(ctx, tg)
	return outcome(err), out
}
