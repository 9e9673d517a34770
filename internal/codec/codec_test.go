package codec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/hostile"
	"flinkgate.io/flinkgate/internal/jsontest"
	"flinkgate.io/flinkgate/internal/jsonvalue"
)

func nested(open, close string, depth int, inner string) string {
	return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name, raw string
		want      string // the tree as canonical JSON
		format    Format
		indented  bool
	}{
		{"a block YAML document decodes", "kind: Deployment\nspec:\n  a: [1, x]\n", `{"kind":"Deployment","spec":{"a":[1,"x"]}}`, YAML, false},
		{"a compact JSON document is JSON and not indented", `{"kind":"Deployment","spec":{}}`, `{"kind":"Deployment","spec":{}}`, JSON, false},
		{"a JSON document whose opening brace ends its line is indented", "{\n  \"spec\": {}\n}\n", `{"spec":{}}`, JSON, true},
		{"a compact JSON document with one stray newline stays compact", "{\"kind\":\"Deployment\",\n\"spec\":{}}", `{"kind":"Deployment","spec":{}}`, JSON, false},
		{"a flow-style YAML mapping starting with { is YAML", "{kind: Deployment, spec: {}}", `{"kind":"Deployment","spec":{}}`, YAML, false},
		{"2^53+1 keeps its last digit in YAML", "x: 9007199254740993\n", `{"x":9007199254740993}`, YAML, false},
		{"2^53+1 keeps its last digit in JSON", `{"n":9007199254740993}`, `{"n":9007199254740993}`, JSON, false},
		{"integers beyond uint64 keep every digit", "x: 123456789012345678901234567890\n", `{"x":123456789012345678901234567890}`, YAML, false},
		{"YAML 1.1 booleans are read as Kubernetes reads them", "a: yes\nb: off\nc: y\n", `{"a":true,"b":false,"c":true}`, YAML, false},
		{"YAML 1.1 integers (octal, hex, underscores, sign) become decimal", "a: 010\nb: 0x1F\nc: 1_000\nd: +5\n", `{"a":8,"b":31,"c":1000,"d":5}`, YAML, false},
		{"YAML floats become JSON numbers with the same value", "a: .5\nb: 1.\nc: -007.25e3\n", `{"a":0.5,"b":1,"c":-7.25e3}`, YAML, false},
		{"a scalar starting with a dot that Go's float syntax refuses is text, as Kubernetes reads it", "a: ._5\nb: .5_0\n", `{"a":"._5","b":0.50}`, YAML, false},
		{"quoted scalars stay strings", "a: 'yes'\nb: \"010\"\nc: '<<'\n", `{"a":"yes","b":"010","c":"<<"}`, YAML, false},
		{"non-string keys become their text, as Kubernetes reads them", "1: a\nyes: b\n~: c\n", `{"1":"a","true":"b","null":"c"}`, YAML, false},
		{"y and n are YAML 1.1 booleans, even as keys, as Kubernetes reads them", "y: n\n", `{"true":false}`, YAML, false},
		{"a merge key adds what the mapping does not set itself", "base: &b {x: 1, z: 1}\nm:\n  <<: *b\n  z: 2\n", `{"base":{"x":1,"z":1},"m":{"x":1,"z":2}}`, YAML, false},
		{"a quoted << is an ordinary key", "\"<<\": 1\n", `{"<<":1}`, YAML, false},
		{"a small alias is expanded", "x: &x {a: 1}\nz: *x\n", `{"x":{"a":1},"z":{"a":1}}`, YAML, false},
		{"explicit tags are honoured", "a: !!str 12\nb: !!int \"7\"\n", `{"a":"12","b":7}`, YAML, false},
		{"brackets inside a string are not nesting, even two hundred of them", "a: '" + strings.Repeat("[", 200) + "'\n", `{"a":"` + strings.Repeat("[", 200) + `"}`, YAML, false},
		{"a document at the nesting limit decodes", "a: " + nested("[", "]", MaxDepth-1, "1") + "\n", `{"a":` + nested("[", "]", MaxDepth-1, "1") + `}`, YAML, false},
		{"a double-quoted string of 40,001 escaped line breaks is one value", "a: \"" + strings.Repeat("x\\n\\\n", 2*MaxValues+1) + "\"\n", `{"a":"` + strings.Repeat(`x\n`, 2*MaxValues+1) + `"}`, YAML, false},
		{"a block scalar of 40,001 lines is one value", "a: |\n" + strings.Repeat("  x\n", 2*MaxValues+1), `{"a":"` + strings.Repeat(`x\n`, 2*MaxValues+1) + `"}`, YAML, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Decode(context.Background(), tc.raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want := jsontest.Decode(t, tc.want)
			if !jsonvalue.Equal(doc.Tree, want) || jsontest.Canonical(t, doc.Tree) != jsontest.Canonical(t, want) {
				t.Errorf("got %s, want %s", jsontest.Canonical(t, doc.Tree), tc.want)
			}
			if doc.Format != tc.format || doc.Indented != tc.indented {
				t.Errorf("got format %v indented %v, want %v %v", doc.Format, doc.Indented, tc.format, tc.indented)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	many := "{\"a\":[" + strings.TrimSuffix(strings.Repeat("0,", MaxValues), ",") + "]}"
	cases := []struct {
		name, raw string
		tooLarge  bool
		want      string
	}{
		{"a second YAML document is refused", "kind: Deployment\n---\nkind: Deployment\n", false, "more than one YAML document (another starts at line 2)"},
		{"an empty second YAML document is refused", "kind: Deployment\n---\n", false, "more than one YAML document"},
		{"a duplicate YAML key is named with both lines", "spec:\n  a: 1\n  b: 2\n  a: 3\n", false, `has the key "a" twice in the mapping at /spec (lines 2 and 4)`},
		{"a duplicate JSON key is named with both lines", "{\"spec\":{\"a\":1,\n\"a\":2}}", false, `has the key "a" twice in the mapping at /spec (lines 1 and 2)`},
		{"keys that read the same are duplicates", "yes: 1\ntrue: 2\n", false, `has the key "true" twice`},
		{"a YAML document nested deeper than the limit is refused", "a: " + nested("[", "]", MaxDepth, "1") + "\n", true, "nests deeper than 64 levels at /a/0/0"},
		{"a YAML document with thousands of open brackets is refused before parsing", "a: " + nested("{a: ", "}", 9000, "1") + "\n", true, "nests deeper than 64 levels (9000 brackets are open at line 1)"},
		{"a JSON document nested deeper than the limit is refused", `{"a":` + nested("[", "]", MaxDepth, "1") + `}`, true, "nests deeper than 64 levels"},
		{"a JSON document with more values than the limit is refused", many, true, "more than 20000 values"},
		{"a YAML document with far more entries than the limit is refused before parsing", "a: [" + strings.Repeat("0,", 2*MaxValues) + "0]\n", true, "too many places where a value can start"},
		{"a block-style YAML document with far more entries than the limit is refused before parsing", "a: " + strings.Repeat("x,", 2*MaxValues) + "x\n", true, "has too many places where a value can start: 80003 (each , : [ { and ? counts 2, each - 1, inside strings too; at most 40000 are parsed)"},
		{"a block-style YAML document with more keys and values than the limit is refused before parsing", strings.Repeat("a: 1\n", MaxValues), true, "has too many places where a value can start: 40001"},
		{"a document larger than a ConfigMap is refused", "a: " + strings.Repeat("x", MaxDocumentBytes) + "\n", true, "more than a ConfigMap can hold"},
		{"an alias bomb is refused", hostile.AliasBomb(), true, "expands through YAML aliases"},
		{"infinity is refused with a hint to quote it", "a: .inf\n", false, "not a number JSON can hold; quote it"},
		{"an unknown tag is refused", "a: !foo bar\n", false, "uses the tag !foo"},
		{"a list is not a document", "- a\n", false, "is a list, not a mapping"},
		{"a mapping used as a key is refused", "? {a: 1}\n: b\n", false, "has a mapping as a key"},
		{"a merge of a scalar is refused", "a:\n  <<: 1\n", false, "merges a number"},
		{"a key whose colon is more than 1024 characters from its start is refused, as go-yaml refuses it", strings.Repeat("k", 1000) + strings.Repeat(" ", 30) + ": v\n", false, "is not valid YAML or JSON"},
		{"syntax errors keep the parser's line", "a: [1\n", false, "is not valid YAML or JSON: yaml: line"},
		{"an empty document is refused", "# nothing\n", false, "is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(context.Background(), tc.raw)
			if err == nil {
				t.Fatal("decoded, want an error")
			}
			var tl *TooLargeError
			var inv *Error
			if tc.tooLarge && !errors.As(err, &tl) || !tc.tooLarge && !errors.As(err, &inv) {
				t.Errorf("got %T (%v), want too large = %v", err, err, tc.tooLarge)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodeStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, raw := range []string{"a: 1\n", `{"a":1}`} {
		if _, err := Decode(ctx, raw); !errors.Is(err, context.Canceled) {
			t.Errorf("decode %q with an ended context: got %v, want context.Canceled", raw, err)
		}
	}
}

func TestEncode(t *testing.T) {
	cases := []struct {
		name     string
		tree     string
		format   Format
		indented bool
		want     string
	}{
		{"YAML is block style with sorted keys and unindented lists", `{"b":{"c":[1,{"d":"x"}]},"a":"s3://bucket/x"}`, YAML, false, "a: s3://bucket/x\nb:\n  c:\n  - 1\n  - d: x\n"},
		{"keys and strings YAML would read as something else are quoted", `{"<<":"~","yes":"on","010":"1e3","null":"y","true":"-.inf"}`, YAML, false, "\"010\": \"1e3\"\n\"<<\": \"~\"\n\"null\": \"y\"\n\"true\": \"-.inf\"\n\"yes\": \"on\"\n"},
		{"numbers are written exactly in YAML", `{"a":9007199254740993,"b":123456789012345678901234567890,"c":1.50}`, YAML, false, "a: 9007199254740993\nb: 123456789012345678901234567890\nc: 1.50\n"},
		{"multi-line strings are literal blocks", `{"a":"x\ny\n"}`, YAML, false, "a: |\n  x\n  y\n"},
		{"compact JSON matches encoding/json, HTML unescaped", `{"b":"<&>","a":[1,{"c":"é\u0001"}],"e":{},"f":[]}`, JSON, false, `{"a":[1,{"c":"é\u0001"}],"b":"<&>","e":{},"f":[]}`},
		{"indented JSON matches encoding/json's two-space indent", `{"b":[1,2],"a":{"c":null},"e":{}}`, JSON, true, "{\n  \"a\": {\n    \"c\": null\n  },\n  \"b\": [\n    1,\n    2\n  ],\n  \"e\": {}\n}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Encode(context.Background(), jsontest.Decode(t, tc.tree), tc.format, tc.indented, false)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			back, err := Decode(context.Background(), got)
			if err != nil {
				t.Fatalf("the output does not decode: %v", err)
			}
			if !jsonvalue.Equal(back.Tree, jsontest.Decode(t, tc.tree)) {
				t.Errorf("the output reads back as %s", jsontest.Canonical(t, back.Tree))
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	// Eight keys share one string of a cap's size: without the cap the
	// output would be eight times as large.
	long := strings.Repeat("x", MaxDocumentBytes)
	big := map[string]any{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		big[k] = long
	}
	deep := any("x")
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	cases := []struct {
		name   string
		tree   any
		format Format
		want   string
	}{
		{"YAML output larger than a ConfigMap stops at the cap", big, YAML, "would be larger than 1048576 bytes"},
		{"JSON output larger than a ConfigMap stops at the cap", big, JSON, "would be larger than 1048576 bytes"},
		{"a tree nested deeper than the limit is not written", map[string]any{"a": deep}, YAML, "would nest deeper than 64 levels"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			u := budget.Measure(func() { _, err = Encode(context.Background(), tc.tree, tc.format, false, false) })
			var tl *TooLargeError
			if !errors.As(err, &tl) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a *TooLargeError containing %q", err, tc.want)
			}
			// The cap is enforced as output is written, so refusing costs a
			// small multiple of the cap, not the size of the whole output.
			if u.Alloc > 8*MaxDocumentBytes {
				t.Errorf("refusing took %s, want at most %d bytes", u, 8*MaxDocumentBytes)
			}
		})
	}
}

func TestEncodeStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tree := map[string]any{"a": strings.Repeat("x", 200<<10)}
	for _, f := range []Format{YAML, JSON} {
		if _, err := Encode(ctx, tree, f, false, false); !errors.Is(err, context.Canceled) {
			t.Errorf("format %v: got %v, want context.Canceled", f, err)
		}
	}
}

// TestFlowAndBlockCostTheSame encodes one document decoded from flow-style
// and from block-style YAML, and checks neither costs more than twice the
// other: encoding depends on the tree, not on how the input was indented.
func TestFlowAndBlockCostTheSame(t *testing.T) {
	var flow, block strings.Builder
	flow.WriteString("{kind: Deployment, spec: ")
	block.WriteString("kind: Deployment\nspec:\n")
	depth := 40
	for i := range depth {
		flow.WriteString(fmt.Sprintf("{k%d: [a, b], n%d: ", i, i))
		fmt.Fprintf(&block, "%sk%d:\n%s- a\n%s- b\n%sn%d:\n", strings.Repeat("  ", i+1), i, strings.Repeat("  ", i+1), strings.Repeat("  ", i+1), strings.Repeat("  ", i+1), i)
	}
	flow.WriteString("leaf" + strings.Repeat("}", depth) + "}")
	block.WriteString(strings.Repeat("  ", depth+1) + "leaf\n")
	var allocs [2]uint64
	for i, raw := range []string{flow.String(), block.String()} {
		doc, err := Decode(context.Background(), raw)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		u := budget.Measure(func() {
			if _, err := Encode(context.Background(), doc.Tree, YAML, false, false); err != nil {
				t.Fatal(err)
			}
		})
		allocs[i] = u.Alloc
	}
	if allocs[0] > 2*allocs[1] || allocs[1] > 2*allocs[0] {
		t.Errorf("flow input cost %d bytes to encode, block input %d", allocs[0], allocs[1])
	}
}

// FuzzDecodeEncode checks that any input is decoded or refused within the
// per-request budget, and that what decodes is written back (in both
// formats) to text that decodes to an equal tree.
func FuzzDecodeEncode(f *testing.F) {
	f.Add("kind: Deployment\nspec: {a: [1, 2.5, yes, '010', \"<<\"]}\n")
	f.Add(`{"kind":"Deployment","spec":{"n":9007199254740993,"s":"a\u2028b"}}`)
	f.Add("a: &a {x: 1}\nb: {<<: *a, y: 2}\n")
	f.Add("a: |\n  multi\n  line\n---\nb: 1\n")
	f.Add("{\n  \"a\": [\n    {}\n  ]\n}\n")
	// Hostile shapes, so mutations start from the inputs that used to hurt.
	f.Add(hostile.AliasBomb())
	f.Add("a: " + nested("{a: ", "}", 9000, "1") + "\n")
	f.Add(`{"a":` + nested(`{"a":`, "}", 6000, "1") + "}")
	f.Add(`{"l":[` + strings.Repeat("0,", MaxValues) + "0]}")
	f.Add("l: [" + strings.Repeat("0,", 2*MaxValues) + "0]\n")
	f.Add("a: " + nested("[", "]", MaxDepth-2, strings.Repeat("x", 100<<10)) + "\n")
	f.Fuzz(func(t *testing.T, raw string) {
		ctx := context.Background()
		var doc *Document
		var err error
		u := budget.Measure(func() { doc, err = Decode(ctx, raw) })
		budget.Record(u)
		if !u.Within() {
			t.Fatalf("decoding %d bytes took %s, beyond the budget", len(raw), u)
		}
		if err != nil {
			return
		}
		for _, format := range []Format{YAML, JSON} {
			var out string
			u := budget.Measure(func() { out, err = Encode(ctx, doc.Tree, format, doc.Indented, false) })
			budget.Record(u)
			if !u.Within() {
				t.Fatalf("encoding took %s, beyond the budget", u)
			}
			var tl *TooLargeError
			if errors.As(err, &tl) {
				continue
			}
			if err != nil {
				t.Fatalf("encode a decoded tree as %v: %v", format, err)
			}
			back, err := Decode(ctx, out)
			if err != nil {
				t.Fatalf("encoded %v does not decode: %v\n%s", format, err, out)
			}
			if !jsonvalue.Equal(back.Tree, doc.Tree) {
				t.Fatalf("encoded %v reads back differently:\n%s\nfrom\n%q", format, out, raw)
			}
		}
	})
}
