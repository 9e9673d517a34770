package codec

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/jsontest"
	"flinkgate.io/flinkgate/internal/jsonvalue"
	sigyaml "sigs.k8s.io/yaml"
)

// emitted is what go-yaml's emitter writes for tree (encodeYAML alone).
func emitted(t testing.TB, tree any) string {
	t.Helper()
	w := &cappedWriter{ctx: context.Background(), limit: MaxDocumentBytes}
	if err := encodeYAML(w, tree); err != nil {
		t.Fatalf("encodeYAML: %v", err)
	}
	return string(w.buf)
}

func TestFastYAMLWriterIsTheEmitter(t *testing.T) {
	cases := []struct {
		name string
		doc  string // JSON
		// fast says whether the direct writer takes the tree; when it
		// does, its output must be the emitter's.
		fast bool
	}{
		{name: "a flat mapping of plain strings is written directly", doc: `{"kind":"Deployment","spec":"x"}`, fast: true},
		{name: "nested mappings and lists of every shape are written directly", doc: `{"a":{"b":[1,[2,3],[],{},{"x":"y","z":[4,{"q":1}]},[{"m":1,"n":[]}],null],"e":{},"f":[]}}`, fast: true},
		{name: "strings that read as other values are double-quoted", doc: `{"a":"true","b":"yes","c":"2","d":"","e":"~","f":"null","g":"1.5","h":"0x1F","i":"<<","j":"Off"}`, fast: true},
		{name: "keys that read as other values are double-quoted", doc: `{"true":1,"2":2,"":3,"n":4,"y":5,"on":6}`, fast: true},
		{name: "numbers, booleans and null are written as they are", doc: `{"a":-1.5e+10,"b":0,"c":12345678901234567890123,"d":true,"e":false,"f":null}`, fast: true},
		{name: "a URL with colons and slashes is plain", doc: `{"jarUri":"https://repo1.maven.org/maven2/org/apache/flink/flink-examples-streaming/1.20.0/flink-examples-streaming-1.20.0-TopSpeedWindowing.jar"}`, fast: true},
		{name: "Flink configuration keys and values are plain", doc: `{"flinkConfiguration":{"state.checkpoints.dir":"s3://my-bucket/checkpoints","taskmanager.numberOfTaskSlots":"2","kubernetes.jobmanager.annotations":"team=flink;cost=low","high-availability.type":"kubernetes"}}`, fast: true},
		{name: "inner spaces are plain", doc: `{"a":"two words","b":"a  b"}`, fast: true},
		{name: "a key of 128 bytes is still a simple key", doc: `{"` + strings.Repeat("k", 128) + `":1}`, fast: true},
		{name: "a key longer than 128 bytes is left to the emitter", doc: `{"` + strings.Repeat("k", 129) + `":1}`},
		{name: "a string of several lines is a literal block scalar", doc: `{"a":"x\ny","b":"x\n\ny\n","c":{"d":["p\nq\n","r: s\n# t\n  u"],"e":[{"f":"g\nh"}]}}`, fast: true},
		{name: "a string of several lines needing an indentation indicator is left to the emitter", doc: `{"a":" x\ny"}`},
		{name: "a string of several lines ending in two line breaks is left to the emitter", doc: `{"a":"x\ny\n\n"}`},
		{name: "a string of several lines with a space before a line break is left to the emitter", doc: `{"a":"x \ny"}`},
		{name: "a string of several lines ending in a space is left to the emitter", doc: `{"a":"x\ny "}`},
		{name: "a key with a line break is left to the emitter", doc: `{"x\ny":1}`},
		{name: "a string of several lines with a tab is left to the emitter", doc: `{"a":"x\n\ty"}`},
		{name: "a string with a colon and a space is single-quoted", doc: `{"a":"x: y","pipeline.name":"orders enrichment: v3"}`, fast: true},
		{name: "a string ending in a colon is single-quoted", doc: `{"a":"x:"}`, fast: true},
		{name: "a string with a hash after a space is single-quoted", doc: `{"a":"x #y"}`, fast: true},
		{name: "a hash inside a word is plain", doc: `{"a":"x#y"}`, fast: true},
		{name: "a string with a leading space is single-quoted", doc: `{"a":" x"}`, fast: true},
		{name: "a string with a trailing space is single-quoted", doc: `{"a":"x "}`, fast: true},
		{name: "a single quote inside a single-quoted string is doubled", doc: `{"a":"it's: x","b":"'q'"}`, fast: true},
		{name: "flow indicators inside a string are plain in block style", doc: `{"a":"kafka-0:9092,kafka-1:9092","b":"x[1]{y}?","c":"a&b*c!d|e>f'g\"h%i@j"}`, fast: true},
		{name: "strings starting with an indicator are single-quoted", doc: `{"a":"*x","b":"&x","c":"!x","d":"|x","e":">x","f":"%x","g":"@x","h":"` + "`" + `x","i":"{x}","j":"[x]","k":",x","l":"#x","m":"'x'","n":"\"x\""}`, fast: true},
		{name: "strings starting with a document marker are single-quoted", doc: `{"a":"---name","b":"...name","c":"--name"}`, fast: true},
		{name: "a dash, question mark or colon followed by a space starts a quoted string", doc: `{"a":"- x","b":"? x","c":": x","d":"-","e":"?","f":":","g":"-x y","h":"?x","i":":x"}`, fast: true},
		{name: "memory sizes, durations and image tags starting with a digit are plain", doc: `{"a":"1G","b":"500m","c":"2.5Gi","d":"10s","e":"1.19.1-stream1-scala_2.12-java11","f":"-XX:+UseG1GC","g":"+1k","h":".5m"}`, fast: true},
		{name: "a version with two dots is plain", doc: `{"a":"1.20.0","b":"1.2.3-4","c":"+1.2.3","d":".1.2"}`, fast: true},
		{name: "a string starting with a digit and holding no word letter or second dot is left to the emitter", doc: `{"a":"1.20-0","b":"1-2"}`},
		{name: "a string that might be a go-yaml v3 timestamp is left to the emitter", doc: `{"a":"2001-12-14T21:59:43Z"}`},
		{name: "a string that might be a hexadecimal or octal number is left to the emitter", doc: `{"a":"0x1F_ab","b":"0o17x","c":"1e5t"}`},
		{name: "a string starting with a dash and holding no word letter is left to the emitter", doc: `{"a":"-x"}`},
		{name: "non-ASCII text is left to the emitter", doc: `{"a":"grüße"}`},
		{name: "a quoted string with a quote in it is left to the emitter", doc: `{"a":"12\"3"}`},
		{name: "a tab is left to the emitter", doc: `{"a":"x\ty"}`},
		{name: "an empty document is left to the emitter", doc: `{}`},
		{name: "a mapping of more keys than are sorted on the stack is written directly", doc: manyKeysJSON(40), fast: true},
		{name: "a mapping of as many keys as are sorted on the stack is written directly", doc: manyKeysJSON(16), fast: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree := jsonTree(t, tc.doc)
			got, ok := fastYAML(tree, MaxDocumentBytes)
			if ok != tc.fast {
				t.Fatalf("fast writer took the tree: %v, want %v", ok, tc.fast)
			}
			if want := emitted(t, tree); ok && got != want {
				t.Errorf("fast writer wrote\n%s\nthe emitter writes\n%s", got, want)
			}
		})
	}
}

// manyKeysJSON is a JSON mapping of n keys in an order far from sorted.
func manyKeysJSON(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":{"%c":%d}`, (i*7)%n, 'z'-i%26, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestFastYAMLWriterGivesUpPastTheLimit(t *testing.T) {
	tree := jsonTree(t, `{"a":"`+strings.Repeat("x", 100)+`"}`)
	if _, ok := fastYAML(tree, 50); ok {
		t.Error("the fast writer wrote past its limit instead of leaving the tree to the emitter")
	}
}

// valuesTree is a mapping with exactly n values (n >= 3), written in under
// 64 KiB: one list of chains of 59 nested lists, which the writer puts on
// one line each ("- - - ... 1"), and single numbers.
func valuesTree(n int) map[string]any {
	var list []any
	for n -= 3; n > 0; {
		if n >= 60 {
			var chain any = json.Number("1")
			for range 59 {
				chain = []any{chain}
			}
			list = append(list, chain)
			n -= 60
			continue
		}
		list = append(list, json.Number("1"))
		n--
	}
	return map[string]any{"a": list}
}

// nullKeys is a mapping of n keys k0, k1, ... with null values.
func nullKeys(n int) map[string]any {
	m := make(map[string]any, n)
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = nil
	}
	return m
}

// emptyAt is a mapping whose deepest value, an empty mapping or list, is at
// depth levels (the top level is 0).
func emptyAt(levels int, empty any) map[string]any {
	v := empty
	for range levels {
		v = map[string]any{"k": v}
	}
	return v.(map[string]any)
}

// TestFastYAMLWriterKeepsTheBounds checks that the direct writer, which
// Encode tries before checkShape, takes no tree checkShape refuses, so
// Encode still refuses it with checkShape's words.
func TestFastYAMLWriterKeepsTheBounds(t *testing.T) {
	for _, n := range []int{MaxValues, MaxValues + 1} {
		if got := countValues(valuesTree(n)); got != n {
			t.Fatalf("valuesTree(%d) has %d values", n, got)
		}
	}
	cases := []struct {
		name string
		tree map[string]any
		want string // Encode's error; "" when the direct writer writes the tree
	}{
		{name: "mappings nested to the depth limit are written directly", tree: nestedTree(MaxDepth, false)},
		{name: "mappings nested one level beyond the depth limit are refused", tree: nestedTree(MaxDepth+1, false), want: "would nest deeper than 64 levels"},
		{name: "mappings and lists nested to the depth limit are written directly", tree: nestedTree(MaxDepth, true)},
		{name: "mappings and lists nested one level beyond the depth limit are refused", tree: nestedTree(MaxDepth+1, true), want: "would nest deeper than 64 levels"},
		{name: "an empty mapping at the deepest level allowed is written directly", tree: emptyAt(MaxDepth-1, map[string]any{})},
		{name: "an empty mapping one level deeper is refused", tree: emptyAt(MaxDepth, map[string]any{}), want: "would nest deeper than 64 levels"},
		{name: "an empty list at the deepest level allowed is written directly", tree: emptyAt(MaxDepth-1, []any{})},
		{name: "an empty list one level deeper is refused", tree: emptyAt(MaxDepth, []any{}), want: "would nest deeper than 64 levels"},
		{name: "a mapping whose keys alone pass the value limit is refused", tree: nullKeys(MaxValues / 2), want: "would have more than 20000 values"},
		{name: "a tree with exactly the most values is written directly", tree: valuesTree(MaxValues)},
		{name: "a tree with one value more than the limit is refused", tree: valuesTree(MaxValues + 1), want: "would have more than 20000 values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, fast := fastYAML(tc.tree, MaxDocumentBytes)
			out, err := Encode(context.Background(), tc.tree, YAML, false, false)
			switch {
			case tc.want == "" && (err != nil || !fast):
				t.Fatalf("encode: %v; written directly: %v; want it written directly", err, fast)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("encode: %v, want an error containing %q", err, tc.want)
			case tc.want != "" && fast:
				t.Fatal("the direct writer took a tree beyond the bounds")
			}
			if tc.want == "" {
				if want := emitted(t, tc.tree); out != want {
					t.Errorf("the direct writer wrote\n%s\nthe emitter writes\n%s", out, want)
				}
			}
		})
	}
}

// countValues counts a tree's values as checkShape does.
func countValues(v any) int {
	n := 1
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			n += 1 + countValues(e)
		}
	case []any:
		for _, e := range x {
			n += countValues(e)
		}
	}
	return n
}

// TestFastYAMLWriterMatchesTheEmitterOnRandomTrees writes random trees from
// an alphabet full of YAML's special characters both ways.
func TestFastYAMLWriterMatchesTheEmitterOnRandomTrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for i := range 3000 {
		tree := randomMapping(rng, 0)
		got, ok := fastYAML(tree, MaxDocumentBytes)
		if !ok {
			continue
		}
		taken++
		// How much room the writer is told to expect changes nothing.
		if sized, ok := fastYAMLSized(tree, MaxDocumentBytes, rng.IntN(2*len(got)+2)); !ok || sized != got {
			t.Fatalf("tree %d: written with a size hint: %v\n%s\nwithout:\n%s", i, ok, sized, got)
		}
		if want := emitted(t, tree); got != want {
			t.Fatalf("tree %d: fast writer wrote\n%s\nthe emitter writes\n%s", i, got, want)
		}
	}
	if taken < 300 {
		t.Errorf("the fast writer took only %d of 3000 random trees; the comparison says little", taken)
	}
}

func randomMapping(rng *rand.Rand, depth int) map[string]any {
	m := map[string]any{}
	for range rng.IntN(4) + 1 {
		m[randomString(rng)] = randomValue(rng, depth+1)
	}
	return m
}

func randomValue(rng *rand.Rand, depth int) any {
	n := 7
	if depth > 4 {
		n = 5
	}
	switch rng.IntN(n) {
	case 0:
		return nil
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return json.Number([]string{"0", "-1", "2.5", "1e+10", "-0.5E-3", "12345678901234567890"}[rng.IntN(6)])
	case 3, 4:
		return randomString(rng)
	case 5:
		s := make([]any, rng.IntN(3))
		for i := range s {
			s[i] = randomValue(rng, depth+1)
		}
		return s
	default:
		if rng.IntN(5) == 0 {
			return map[string]any{}
		}
		return randomMapping(rng, depth)
	}
}

// randomString draws from words YAML reads specially and from characters
// that are indicators somewhere.
func randomString(rng *rand.Rand) string {
	words := []string{"", "a", "b", "c", "kind", "value", "s3://b/c", "a.b.c", "ab", "x", "y2", "spec", "true", "no", "null", "~", "<<", "1", "0x1", "1.5", "1_0", ".5", "-", "--", "x:y", "x: y", "http://h:1/p", "a b", " a", "a ", "#", "a#b", "a #b", "y", "Y", "on", "2001-12-14", "_k", "/p", "=", "a=b", "@a", "a@b", "%", "a%", "key.name", "A-Z", "12\"", "\\", "k:", "é"}
	alphabet := "abz09 -_.:/#@%=+~()$^;<>\"'!&*|>?,[]{}`\\\t"
	var b strings.Builder
	for range rng.IntN(3) + 1 {
		if rng.IntN(8) == 0 {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		} else {
			b.WriteString(words[rng.IntN(len(words))])
		}
	}
	return b.String()
}

func jsonTree(t testing.TB, doc string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var tree map[string]any
	if err := d.Decode(&tree); err != nil {
		t.Fatalf("test document: %v", err)
	}
	return tree
}

// FuzzFastYAMLWriter decodes any document and writes its tree both ways.
func FuzzFastYAMLWriter(f *testing.F) {
	f.Add("kind: Deployment\nspec:\n  a: [1, b, {c: 'true'}]\n  d: x:y\n")
	f.Add(`{"a":{"b":[1,[2,3],[],{},{"x":"y"}],"e":{},"f":[]},"k":"true","l":""}`)
	// What the hostile review tried: strings YAML reads as something
	// else, indicators, long keys and strings, odd numbers.
	f.Add(`{"a":"+1","b":".5","c":"0o17","d":"1_000","e":"._5","f":"-0","g":"2001-12-14","h":"1:20","i":"nULL","j":"Yes","k":"<<","l":"a :b","m":"a- b","n":"a~","o":"/:","p":"---","q":"a ---","r":"=","s":"a  b"}`)
	f.Add(`{"` + strings.Repeat("k", 128) + `":"` + strings.Repeat("word ", 40) + `end","` + strings.Repeat("1", 127) + `":[-0,1E400,0.000,-0.0e-0,1e+10]}`)
	f.Add(`{"\u0085":"a\u2028b","\ufeffx":"\u00e9","t":"a\tb","q":"a\"b","s":"a'b"}`)
	f.Add(`{"a":"x\ny","b":"x\n\ny\n","c":[" x\n","x\n\n","x \ny","\nx","x\n ","p\n  q"],"d":{"e":"1G","f":"-XX:+UseG1GC","g":"x: y","h":"'q'","i":"#x","j":"x #y","k":"1e5m","l":"0x1g"}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		doc, err := Decode(context.Background(), raw)
		if err != nil {
			return
		}
		if got, ok := fastYAML(doc.Tree, MaxDocumentBytes); ok {
			if want := emitted(t, doc.Tree); got != want {
				t.Errorf("fast writer wrote\n%s\nthe emitter writes\n%s", got, want)
			}
		}
		// Whichever writer writes it, the document reads back as the tree.
		out, err := Encode(context.Background(), doc.Tree, YAML, false, false)
		if err != nil {
			return
		}
		back, err := Decode(context.Background(), out)
		if err != nil {
			t.Fatalf("the written document does not read back (%v):\n%s", err, out)
		}
		if !jsonvalue.Equal(back.Tree, doc.Tree) {
			t.Errorf("the written document\n%s\nreads back as %#v, not %#v", out, back.Tree, doc.Tree)
		}
	})
}

// TestWrittenYAMLReadsBackAsTheTree writes strings YAML could misread, as
// values, keys and inside lists, and reads the document back: the direct
// writer, when it takes the tree, writes the emitter's bytes, and
// whichever writes it, the document reads back as the tree.
func TestWrittenYAMLReadsBackAsTheTree(t *testing.T) {
	cases := []struct {
		name    string
		strings []string
		numbers []string
	}{
		{name: "strings YAML reads as other values read back as strings", strings: []string{"+1", ".5", "0o17", "1_000", "._5", "-0", "y", "Yes", "nULL", "<<", "~", "2001-12-14", "1:20", ".inf", "-.Inf", ".nan"}},
		{name: "strings with indicators read back as themselves", strings: []string{"a :b", "a- b", "a~", "=", "/:", "a:/", "---", "...", "a ---", "-a", "?a", ":a", "a: ", "a,b", "a[b", "%a", "a%", "a #b", "a#b", "a\"b", "a'b", "a\\b", "&a", "*a", "!a", "|", ">"}},
		{name: "strings with spaces, tabs and line-break-like characters read back as themselves", strings: []string{"a b", strings.Repeat("word ", 40) + "end", "a  b", "a\tb", " ", "", "a\u0085b", "a\u2028b", "\ufeffa", "é", "x\x7f", "x\x00"}},
		{name: "keys at and beyond the simple key's length read back", strings: []string{strings.Repeat("k", 128), strings.Repeat("1", 128), strings.Repeat("1", 127), strings.Repeat("k", 129)}},
		{name: "numbers keep their value", numbers: []string{"-0", "1E400", "0.000", "-0.0e-0", "1e+10", "12345678901234567890123"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var trees []map[string]any
			for _, s := range tc.strings {
				trees = append(trees, map[string]any{"v": s}, map[string]any{s: "v"}, map[string]any{"l": []any{s, map[string]any{s: s}}})
			}
			for _, n := range tc.numbers {
				trees = append(trees, map[string]any{"n": json.Number(n), "l": []any{json.Number(n)}})
			}
			for _, tree := range trees {
				if got, ok := fastYAML(tree, MaxDocumentBytes); ok {
					if want := emitted(t, tree); got != want {
						t.Errorf("fast writer wrote\n%s\nthe emitter writes\n%s", got, want)
					}
				}
				out, err := Encode(context.Background(), tree, YAML, false, false)
				if err != nil {
					t.Fatalf("encode %#v: %v", tree, err)
				}
				back, err := Decode(context.Background(), out)
				if err != nil {
					t.Fatalf("%#v was written as\n%s\nwhich does not read back: %v", tree, out, err)
				}
				if !jsonvalue.Equal(back.Tree, tree) {
					t.Errorf("%#v was written as\n%s\nwhich reads back as %#v", tree, out, back.Tree)
				}
				if len(tc.strings) > 0 {
					// Kubernetes' reader reads the strings back as strings too.
					k8s, err := sigyaml.YAMLToJSON([]byte(out))
					if err != nil {
						t.Fatalf("%#v was written as\n%s\nwhich sigs.k8s.io/yaml refuses: %v", tree, out, err)
					}
					if got, want := jsontest.Canonical(t, jsontest.Decode(t, string(k8s))), jsontest.Canonical(t, tree); got != want {
						t.Errorf("%#v was written as\n%s\nwhich sigs.k8s.io/yaml reads as %s", tree, out, got)
					}
				}
			}
		})
	}
}
