package patchset

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// TestApplyCountedCountsHostilePatchSets holds ApplyCounted's value count
// to a walk of the result on patch sets aimed at the count's bookkeeping:
// root replacements, escaped and empty tokens, arrays resized under a
// later operation's path, parents created on the way, copies of a
// container into itself, and moves that empty their source's parent.
func TestApplyCountedCountsHostilePatchSets(t *testing.T) {
	cases := []struct {
		name, doc, patch, want string
	}{
		{"an add at the root replaces the whole document and counts only the new one",
			`{"a":[1,2,{"b":3}]}`, `[{"op":"add","path":"","value":{"x":[1]}}]`, `{"x":[1]}`},
		{"a move to the root keeps only the moved value",
			`{"a":{"b":[1,2]},"c":1}`, `[{"op":"move","from":"/a","path":""}]`, `{"b":[1,2]}`},
		{"a copy of the root into itself counts the copy once",
			`{"a":[1]}`, `[{"op":"copy","from":"","path":"/b"}]`, `{"a":[1],"b":{"a":[1]}}`},
		{"a copy of the root over the root leaves the count as it was",
			`{"a":[1]}`, `[{"op":"copy","from":"","path":""}]`, `{"a":[1]}`},
		{"an add under an empty key and an empty key's empty key counts both keys",
			`{"":{}}`, `[{"op":"add","path":"/","value":{"":[]}},{"op":"add","path":"//","value":1}]`, `{"":{"":1}}`},
		{"escaped tokens name the keys with ~ and / in them",
			`{"~":1,"/":2}`, `[{"op":"replace","path":"/~0","value":[1,2]},{"op":"remove","path":"/~1"},{"op":"add","path":"/~01","value":{}}]`, `{"~":[1,2],"~1":{}}`},
		{"an add under missing parents counts each created mapping and its key",
			`{}`, `[{"op":"add","path":"/a/b/c/d","value":[1,{"e":null}]}]`, `{"a":{"b":{"c":{"d":[1,{"e":null}]}}}}`},
		{"an add under missing parents named like indices creates mappings, not arrays",
			`{}`, `[{"op":"add","path":"/0/-/1","value":1}]`, `{"0":{"-":{"1":1}}}`},
		{"appends at - and inserts at 0 and at the end count each element",
			`{"l":[]}`, `[{"op":"add","path":"/l/-","value":[1]},{"op":"add","path":"/l/0","value":{"k":2}},{"op":"add","path":"/l/2","value":null}]`, `{"l":[{"k":2},[1],null]}`},
		{"a replace of the last element of an array keeps the array's length",
			`{"l":[1,2,[3,4]]}`, `[{"op":"replace","path":"/l/2","value":"x"}]`, `{"l":[1,2,"x"]}`},
		{"a move within one array shifts the elements and keeps the count",
			`{"l":[1,[2,3],4]}`, `[{"op":"move","from":"/l/1","path":"/l/-"},{"op":"move","from":"/l/0","path":"/l/2"}]`, `{"l":[4,[2,3],1]}`},
		{"a move out of a nested array into its grandparent counts the move once",
			`{"a":{"l":[{"x":1}]}}`, `[{"op":"move","from":"/a/l/0","path":"/a/l"}]`, `{"a":{"l":{"x":1}}}`},
		{"a move of a member over its own parent keeps only the member",
			`{"a":{"b":{"c":1},"d":2}}`, `[{"op":"move","from":"/a/b","path":"/a"}]`, `{"a":{"c":1}}`},
		{"a move to the same path changes nothing",
			`{"a":[1]}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":[1]}`},
		{"a copy of an array into its own end counts the copy's elements",
			`{"l":[1,[2]]}`, `[{"op":"copy","from":"/l","path":"/l/-"}]`, `{"l":[1,[2],[1,[2]]]}`},
		{"a copy over an existing member subtracts the member it replaces",
			`{"a":{"x":[1,2,3]},"b":{"y":1}}`, `[{"op":"copy","from":"/b","path":"/a"}]`, `{"a":{"y":1},"b":{"y":1}}`},
		{"removing an array's last element and adding a mapping member keeps the count",
			`{"l":[1],"m":{}}`, `[{"op":"remove","path":"/l/0"},{"op":"add","path":"/m/k","value":null},{"op":"test","path":"/l","value":[]}]`, `{"l":[],"m":{"k":null}}`},
		{"an add that replaces a member with null counts the null",
			`{"a":{"b":[1,2]}}`, `[{"op":"add","path":"/a","value":null}]`, `{"a":null}`},
		{"an array at the root takes appends and removals",
			`[1,{"a":2}]`, `[{"op":"add","path":"/-","value":[3]},{"op":"remove","path":"/1"},{"op":"add","path":"/0","value":{}}]`, `[{},1,[3]]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, ops := decodeDocAndPatch(t, tc.doc, tc.patch)
			before := countValues(doc)
			out, counts, err := ApplyCounted(context.Background(), doc, ops, Limits{MaxBytes: 1 << 20, MaxValues: 20_000})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			want, _ := decodeDocAndPatch(t, tc.want, "[]")
			if !jsonvalue.Equal(out, want) {
				got, _ := json.Marshal(out)
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if counts.Before != before || counts.After != countValues(out) {
				t.Errorf("counted %+v; the walks say %d before and %d after", counts, before, countValues(out))
			}
		})
	}
}

// TestApplyCountedFailsWholeOnHostileLimits checks that a patch set that
// fails part-way (a bound, the work budget, a failed test) returns no
// counts: Patched must never take a count from a half-applied document.
func TestApplyCountedFailsWholeOnHostileLimits(t *testing.T) {
	long := `"` + strings.Repeat("x", 4096) + `"`
	cases := []struct {
		name, doc, patch string
		lim              Limits
		tooLarge         bool
	}{
		{"a patch set that passes the value bound on its second operation fails whole",
			`{"a":1}`, `[{"op":"add","path":"/b","value":1},{"op":"add","path":"/c","value":[1,2,3]}]`, Limits{MaxValues: 6}, true},
		{"a patch set that passes the byte bound with a copy fails whole",
			`{"s":` + long + `}`, `[{"op":"copy","from":"/s","path":"/t"}]`, Limits{MaxBytes: 5000}, true},
		{"a patch set that doubles the document until the work budget runs out fails whole",
			`{"s":` + long + `}`, `[` + strings.TrimSuffix(strings.Repeat(`{"op":"copy","from":"","path":"/s"},`, 40), ",") + `]`, Limits{}, false},
		{"a patch set whose last test fails after changes fails whole",
			`{"a":1}`, `[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":2}]`, Limits{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, ops := decodeDocAndPatch(t, tc.doc, tc.patch)
			out, counts, err := ApplyCounted(context.Background(), doc, ops, tc.lim)
			if err == nil || out != nil || counts != (Counts{}) {
				t.Fatalf("got %v, %+v, %v; want no document, no counts and an error", out, counts, err)
			}
			var perr *Error
			if !asError(err, &perr) || perr.TooLarge != tc.tooLarge {
				t.Errorf("error %v; want a *Error with TooLarge %v", err, tc.tooLarge)
			}
		})
	}
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}

func decodeDocAndPatch(t *testing.T, doc, patch string) (any, []Operation) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var d any
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("document %s: %v", doc, err)
	}
	pd := json.NewDecoder(strings.NewReader(patch))
	pd.UseNumber()
	var p any
	if err := pd.Decode(&p); err != nil {
		t.Fatalf("patch %s: %v", patch, err)
	}
	ops, err := Parse(p)
	if err != nil {
		t.Fatalf("parse %s: %v", patch, err)
	}
	return d, ops
}
