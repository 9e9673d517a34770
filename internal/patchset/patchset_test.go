package patchset

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"

	fuzzbudget "flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/jsontest"
)

func mustParse(t testing.TB, patch string) []Operation {
	t.Helper()
	ops, err := Parse(jsontest.Decode(t, patch))
	if err != nil {
		t.Fatalf("parse %s: %v", patch, err)
	}
	return ops
}

func TestApply(t *testing.T) {
	cases := []struct {
		name, doc, patch, want string
	}{
		{"add creates missing parent objects, as the seed's example needs", `{"spec":{"template":{"spec":{}}}}`,
			`[{"op":"add","path":"/spec/template/spec/flinkConfiguration/state.checkpoints.dir","value":"s3://b/c"}]`,
			`{"spec":{"template":{"spec":{"flinkConfiguration":{"state.checkpoints.dir":"s3://b/c"}}}}}`},
		{"add replaces an existing member", `{"a":{"b":1}}`, `[{"op":"add","path":"/a/b","value":2}]`, `{"a":{"b":2}}`},
		{"add inserts into an array at an index", `{"a":[1,3]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2,3]}`},
		{"add with - appends to an array", `{"a":[1]}`, `[{"op":"add","path":"/a/-","value":2}]`, `{"a":[1,2]}`},
		{"add at the array's length appends", `{"a":[1]}`, `[{"op":"add","path":"/a/1","value":2}]`, `{"a":[1,2]}`},
		{"add into a missing parent under a hostile index makes an object key, not a padded array", `{}`,
			`[{"op":"add","path":"/a/2000000000","value":1}]`, `{"a":{"2000000000":1}}`},
		{"escaped keys work in intermediate and final tokens", `{}`,
			`[{"op":"add","path":"/a~1b/c~0d/e~1f","value":1}]`, `{"a/b":{"c~d":{"e/f":1}}}`},
		{"~01 unescapes to ~1, not to /", `{}`, `[{"op":"add","path":"/~01","value":1}]`, `{"~1":1}`},
		{"remove deletes a member", `{"a":1,"b":2}`, `[{"op":"remove","path":"/a"}]`, `{"b":2}`},
		{"remove deletes an array element", `{"a":[1,2,3]}`, `[{"op":"remove","path":"/a/1"}]`, `{"a":[1,3]}`},
		{"replace changes an existing value", `{"a":1}`, `[{"op":"replace","path":"/a","value":"x"}]`, `{"a":"x"}`},
		{"move relocates a value", `{"a":{"b":1}}`, `[{"op":"move","from":"/a/b","path":"/c"}]`, `{"a":{},"c":1}`},
		{"move onto itself changes nothing", `{"a":1}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":1}`},
		{"copy duplicates a value independently", `{"a":{"b":1}}`,
			`[{"op":"copy","from":"/a","path":"/c"},{"op":"add","path":"/c/b","value":2}]`, `{"a":{"b":1},"c":{"b":2}}`},
		{"test passes when numbers are equal in value", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0}]`, `{"a":1}`},
		{"test compares numbers exactly, whatever their notation", `{"a":9007199254740993}`, `[{"op":"test","path":"/a","value":90071992547409930e-1}]`, `{"a":9007199254740993}`},
		{"replace with a large integer next to the old one is not dropped", `{"a":9007199254740992}`, `[{"op":"replace","path":"/a","value":9007199254740993}]`, `{"a":9007199254740993}`},
		{"add with - on an existing mapping adds the member \"-\", as RFC 6902 says", `{"a":{}}`, `[{"op":"add","path":"/a/-","value":1}]`, `{"a":{"-":1}}`},
		{"operations apply in order, each seeing the previous", `{}`,
			`[{"op":"add","path":"/a","value":[]},{"op":"add","path":"/a/-","value":1},{"op":"replace","path":"/a/0","value":2}]`, `{"a":[2]}`},
		{"add at the root replaces the whole document", `{"a":1}`, `[{"op":"add","path":"","value":{"b":2}}]`, `{"b":2}`},
		{"large integers keep every digit", `{"a":12345678901234567890}`, `[{"op":"add","path":"/b","value":1}]`, `{"a":12345678901234567890,"b":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Apply(context.Background(), jsontest.Decode(t, tc.doc), mustParse(t, tc.patch), Limits{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if g, w := jsontest.Canonical(t, got), jsontest.Canonical(t, jsontest.Decode(t, tc.want)); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func TestApplyFails(t *testing.T) {
	cases := []struct {
		name, doc, patch string
		index            int
		reason           string
	}{
		{"add does not pad an array", `{"a":[]}`, `[{"op":"add","path":"/a/3","value":1}]`, 0, "out of range for an array of 0"},
		{"a hostile index into an array is refused at once", `{"a":[]}`, `[{"op":"add","path":"/a/2000000000","value":1}]`, 0, "out of range"},
		{"negative indices are refused", `{"a":[1]}`, `[{"op":"remove","path":"/a/-1"}]`, 0, "not an array index"},
		{"indices with leading zeros are refused", `{"a":[1,2]}`, `[{"op":"remove","path":"/a/01"}]`, 0, "not an array index"},
		{"add does not create a parent inside an array", `{"a":[]}`, `[{"op":"add","path":"/a/0/b","value":1}]`, 0, "out of range"},
		{"add cannot go through a string", `{"a":"s"}`, `[{"op":"add","path":"/a/b","value":1}]`, 0, "/a is a string"},
		{"remove of a missing member fails", `{}`, `[{"op":"remove","path":"/a"}]`, 0, "/a does not exist"},
		{"replace of a missing member fails", `{}`, `[{"op":"replace","path":"/a","value":1}]`, 0, "/a does not exist"},
		{"move from a missing member fails", `{}`, `[{"op":"move","from":"/a","path":"/b"}]`, 0, "from: /a does not exist"},
		{"copy from a missing member fails", `{}`, `[{"op":"copy","from":"/a","path":"/b"}]`, 0, "from: /a does not exist"},
		{"a failing test shows the actual and the expected value", `{"a":1}`, `[{"op":"test","path":"/a","value":2}]`, 0, "the value at /a is 1, not the expected 2"},
		{"a failing test tells 2^53 from 2^53+1", `{"a":9007199254740992}`, `[{"op":"test","path":"/a","value":9007199254740993}]`, 0, "is 9007199254740992, not the expected 9007199254740993"},
		{"a failing test shows long values cut short", `{"a":"` + strings.Repeat("x", 1000) + `"}`, `[{"op":"test","path":"/a","value":"y"}]`, 0, `xxxxxxxxxx..., not the expected "y"`},
		{"appending under a missing parent fails instead of making a key \"-\"", `{}`, `[{"op":"add","path":"/x/-","value":1}]`, 0, "cannot append to /x: /x does not exist; create the array first (add /x with value [])"},
		{"the failing operation's index is reported", `{}`, `[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/b"}]`, 1, "/b does not exist"},
		{"- names no element to remove", `{"a":[1]}`, `[{"op":"remove","path":"/a/-"}]`, 0, "names no element"},
		{"the document root cannot be removed", `{}`, `[{"op":"remove","path":""}]`, 0, "whole document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(context.Background(), jsontest.Decode(t, tc.doc), mustParse(t, tc.patch), Limits{})
			perr, ok := err.(*Error)
			if !ok {
				t.Fatalf("got error %v, want a *Error", err)
			}
			if perr.Index != tc.index || !strings.Contains(perr.Reason, tc.reason) {
				t.Errorf("got %q at index %d, want %q at index %d", perr.Reason, perr.Index, tc.reason, tc.index)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ name, patch, want string }{
		{"a patch set that is not a list", `{"op":"add"}`, "must be a list"},
		{"an operation that is not a mapping", `["add"]`, "[0]: an operation must be a mapping"},
		{"an unknown op", `[{"op":"merge","path":"/a"}]`, `op is "merge"`},
		{"a missing op", `[{"path":"/a"}]`, "op is missing"},
		{"a path that is not a pointer", `[{"op":"remove","path":"a"}]`, "must be empty or start with /"},
		{"a path with a bad escape", `[{"op":"remove","path":"/a~2"}]`, "~ not followed by 0 or 1"},
		{"an add without a value", `[{"op":"add","path":"/a"}]`, "add needs a value"},
		{"a remove with a value", `[{"op":"remove","path":"/a","value":1}]`, "remove takes no value"},
		{"a move without from", `[{"op":"move","path":"/a"}]`, "move needs from"},
		{"an add with from", `[{"op":"add","path":"/a","value":1,"from":"/b"}]`, "add takes no from"},
		{"a move into its own child", `[{"op":"move","from":"/a","path":"/a/b"}]`, "into its own child"},
		{"an unknown field in an operation", `[{"op":"add","path":"/a","value":1,"vaule":2}]`, `unknown field "vaule"`},
		{"the failing operation's index is named", `[{"op":"add","path":"/a","value":1},{"op":"bogus","path":"/a"}]`, "[1]:"},
		{"a path with more tokens than a document can nest is refused", `[{"op":"remove","path":"` + strings.Repeat("/a", MaxPathTokens+1) + `"}]`, "path: the pointer has 65 tokens; at most 64"},
		{"a from with more tokens than a document can nest is refused", `[{"op":"copy","path":"/a","from":"` + strings.Repeat("/a", MaxPathTokens+1) + `"}]`, "from: the pointer has 65 tokens"},
		{"a patch set with more operations than the limit is refused", "[" + strings.TrimSuffix(strings.Repeat(`{"op":"remove","path":"/a"},`, MaxOperations+1), ",") + "]", "has 257 operations; at most 256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(jsontest.Decode(t, tc.patch))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestAgreesWithJSONPatchLibrary checks plain RFC 6902 patches (no parent
// creation) against github.com/evanphx/json-patch/v5 with RFC options.
func TestAgreesWithJSONPatchLibrary(t *testing.T) {
	cases := []struct{ name, doc, patch string }{
		{"a mix of every op on objects and arrays agrees", `{"a":{"b":[1,2,3]},"c":"x"}`,
			`[{"op":"add","path":"/a/b/1","value":9},{"op":"remove","path":"/a/b/0"},{"op":"replace","path":"/c","value":{"d":1}},{"op":"move","from":"/c/d","path":"/e"},{"op":"copy","from":"/a","path":"/f"},{"op":"test","path":"/e","value":1}]`},
		{"escaped keys agree", `{"a/b":{"c~d":1}}`, `[{"op":"move","from":"/a~1b/c~0d","path":"/x~1y"}]`},
		{"appending agrees", `{"a":[]}`, `[{"op":"add","path":"/a/-","value":1},{"op":"add","path":"/a/-","value":2}]`},
	}
	opts := jsonpatch.NewApplyOptions()
	opts.SupportNegativeIndices = false
	opts.EnsurePathExistsOnAdd = false
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lib, err := jsonpatch.DecodePatch([]byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			want, err := lib.ApplyWithOptions([]byte(tc.doc), opts)
			if err != nil {
				t.Fatalf("library: %v", err)
			}
			got, err := Apply(context.Background(), jsontest.Decode(t, tc.doc), mustParse(t, tc.patch), Limits{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if g, w := jsontest.Canonical(t, got), jsontest.Canonical(t, jsontest.Decode(t, string(want))); g != w {
				t.Errorf("got %s, library gives %s", g, w)
			}
		})
	}
}

func TestApplyBoundsItsWork(t *testing.T) {
	var doubling strings.Builder
	doubling.WriteString(`[`)
	for i := range 30 {
		if i > 0 {
			doubling.WriteString(",")
		}
		fmt.Fprintf(&doubling, `{"op":"copy","from":"/spec","path":"/spec/k%d"}`, i)
	}
	doubling.WriteString(`]`)
	long := make([]any, 200000)
	var front strings.Builder
	front.WriteString(`[`)
	for i := range MaxOperations {
		if i > 0 {
			front.WriteString(",")
		}
		front.WriteString(`{"op":"add","path":"/a/0","value":1}`)
	}
	front.WriteString(`]`)
	cases := []struct {
		name    string
		doc     any
		patch   string
		wantErr bool
	}{
		{"copies that double the document every time are refused", jsontest.Decode(t, `{"spec":{"x":"y"}}`), doubling.String(), true},
		{"thousands of inserts at the front of a long array are refused", map[string]any{"a": long}, front.String(), true},
		{"a few inserts at the front of a long array are allowed", map[string]any{"a": long}, `[{"op":"add","path":"/a/0","value":1},{"op":"remove","path":"/a/0"}]`, false},
		{"copying a large subtree once is allowed", jsontest.Decode(t, `{"spec":{"a":[1,2,3,4,5,6,7,8,9,10]}}`), `[{"op":"copy","from":"/spec","path":"/copy"}]`, false},
		{"copies of a long string cost its length, so hundreds of them are refused", map[string]any{"s": strings.Repeat("x", 12<<10)}, stringCopies(200), true},
		{"a few copies of a long string are allowed", map[string]any{"s": strings.Repeat("x", 12<<10)}, stringCopies(5), false},
		{"moving a long string back and forth costs its length every time", map[string]any{"s": strings.Repeat("x", 100<<10)}, moves(200), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(context.Background(), tc.doc, mustParse(t, tc.patch), Limits{})
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error=%v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "more work") {
				t.Errorf("got %v, want the work budget named", err)
			}
		})
	}
}

func stringCopies(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"op":"copy","from":"/s","path":"/c%d"}`, i)
	}
	b.WriteString("]")
	return b.String()
}

func moves(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		from, to := "/s", "/t"
		if i%2 == 1 {
			from, to = to, from
		}
		fmt.Fprintf(&b, `{"op":"move","from":"%s","path":"%s"}`, from, to)
	}
	b.WriteString("]")
	return b.String()
}

func TestApplyRefusesADocumentBeyondTheLimits(t *testing.T) {
	cases := []struct {
		name  string
		doc   string
		patch string
		lim   Limits
		want  string
	}{
		{"a patch set that makes the document larger than MaxBytes fails at the operation that does", `{"s":"` + strings.Repeat("x", 1000) + `"}`,
			`[{"op":"copy","from":"/s","path":"/a"},{"op":"copy","from":"/s","path":"/b"}]`, Limits{MaxBytes: 2500}, "operation 1 (copy /b) failed: the patched document would be larger than 2500 bytes"},
		{"a patch set that gives the document more values than MaxValues fails", `{"a":[1,2,3,4,5]}`,
			`[{"op":"copy","from":"/a","path":"/b"},{"op":"copy","from":"/a","path":"/c"}]`, Limits{MaxValues: 15}, "operation 1 (copy /c) failed: the patched document would have more than 15 values"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(context.Background(), jsontest.Decode(t, tc.doc), mustParse(t, tc.patch), tc.lim)
			perr, ok := err.(*Error)
			if !ok || !perr.TooLarge || err.Error() != tc.want {
				t.Fatalf("got %v, want a too-large *Error %q", err, tc.want)
			}
		})
	}
}

func TestApplyStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Apply(ctx, jsontest.Decode(t, `{}`), mustParse(t, `[{"op":"add","path":"/a","value":1}]`), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestApplyDoesNotShareValuesWithTheOperations(t *testing.T) {
	ops := mustParse(t, `[{"op":"add","path":"/a","value":{"b":1}},{"op":"add","path":"/a/c","value":2}]`)
	if _, err := Apply(context.Background(), jsontest.Decode(t, `{}`), ops, Limits{}); err != nil {
		t.Fatal(err)
	}
	if got := jsontest.Canonical(t, ops[0].Value); got != `{"b":1}` {
		t.Errorf("the operation's value was changed to %s by a later operation", got)
	}
}

func BenchmarkApplyHostileIndex(b *testing.B) {
	ops := mustParse(b, `[{"op":"add","path":"/a/2000000000","value":1}]`)
	for b.Loop() {
		if _, err := Apply(context.Background(), map[string]any{"a": []any{}}, ops, Limits{}); err == nil {
			b.Fatal("hostile index applied")
		}
	}
}

func BenchmarkApplyLargeDocument(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"items":[`)
	for i := range 10000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"k":"v"}`)
	}
	buf.WriteString(`]}`)
	ops := mustParse(b, `[{"op":"add","path":"/items/0","value":1},{"op":"remove","path":"/items/0"},{"op":"add","path":"/x/y/z","value":1}]`)
	raw := buf.String()
	for b.Loop() {
		b.StopTimer()
		doc := jsontest.Decode(b, raw)
		b.StartTimer()
		if _, err := Apply(context.Background(), doc, ops, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzApply checks that no document and patch set makes Apply panic or
// exceed the per-request budget, and that a patch set that applies leaves a
// tree JSON can encode.
func FuzzApply(f *testing.F) {
	f.Add(`{"a":[1,2],"b":{"c~d":1}}`, `[{"op":"add","path":"/a/-","value":3},{"op":"move","from":"/b/c~0d","path":"/x/y"}]`)
	f.Add(`{}`, `[{"op":"copy","from":"","path":"/a"}]`)
	f.Add(`[1]`, `[{"op":"remove","path":"/0"}]`)
	f.Add(`{"s":"xxxxxxxxxxxxxxxx"}`, `[{"op":"copy","from":"/s","path":"/a"},{"op":"copy","from":"","path":"/b"},{"op":"move","from":"/b","path":"/c/-"}]`)
	f.Add(`{"a":[[[]]]}`, `[{"op":"test","path":"/a/0","value":[[]]},{"op":"add","path":"/a/0/0/-","value":9007199254740993}]`)
	f.Fuzz(func(t *testing.T, doc, patch string) {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var d any
		if dec.Decode(&d) != nil {
			return
		}
		pd := json.NewDecoder(strings.NewReader(patch))
		pd.UseNumber()
		var p any
		if pd.Decode(&p) != nil {
			return
		}
		ops, err := Parse(p)
		if err != nil {
			return
		}
		var out any
		var counts Counts
		before := countValues(d)
		u := fuzzbudget.Measure(func() {
			out, counts, err = ApplyCounted(context.Background(), d, ops, Limits{MaxBytes: 1 << 20, MaxValues: 20_000})
		})
		fuzzbudget.Record(u)
		if !u.Within() {
			t.Fatalf("applying %d operations to a %d-byte document took %s, beyond the budget", len(ops), len(doc), u)
		}
		if err != nil {
			return
		}
		if counts.Before != before || counts.After != countValues(out) {
			t.Errorf("counted %+v values, the walks say %d before and %d after", counts, before, countValues(out))
		}
		if _, err := json.Marshal(out); err != nil {
			t.Errorf("applied patch left an unencodable tree: %v", err)
		}
	})
}
