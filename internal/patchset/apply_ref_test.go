package patchset

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// referenceAdd is applyOne's add as it was before it walked the path once:
// a find, a walk to the parent to tell an insert from a replacement, and
// add's own walk.
func referenceAdd(doc any, op *Operation, b *budget) (any, error) {
	b.left -= len(op.Path) + len(op.From)
	if n := len(op.path); n > 0 && op.path[n-1] == "-" {
		if _, err := get(doc, op.path[:len(op.path)-1]); err != nil {
			return nil, fmt.Errorf("cannot append to %s: %v; create the array first (add %s with value [])", render(op.path[:len(op.path)-1]), err, render(op.path[:len(op.path)-1]))
		}
	}
	if old, ok := find(doc, op.path); ok && !appendsOrInserts(doc, op.path) {
		b.removed(b.charge(old))
	}
	return add(doc, op.path, b.copy(op.Value, op.valueSize, countValues(op.Value)), true, b)
}

// TestAddDoesWhatTheThreeWalksDid applies random adds to random documents
// with applyOne and with referenceAdd, and compares the documents, the
// errors and every figure of the work budget.
func TestAddDoesWhatTheThreeWalksDid(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tokens := []string{"a", "b", "0", "1", "2", "-", "01", "", "x~y", "a/b"}
	values := []any{json.Number("1"), "s", nil, true, map[string]any{}, map[string]any{"k": []any{json.Number("2")}}, []any{}, []any{"x", map[string]any{}}}
	outcomes := map[string]int{}
	for i := range 20000 {
		doc := randomDoc(rng, 0)
		path := make([]string, rng.IntN(4))
		for j := range path {
			path[j] = tokens[rng.IntN(len(tokens))]
		}
		op := Operation{Op: "add", Path: jsonvalue.Pointer(path), path: path, Value: values[rng.IntN(len(values))], HasValue: true}
		op.valueSize = encodedSize(op.Value)
		left := rng.IntN(200) // small budgets run out part-way too
		gotBudget, wantBudget := &budget{left: left, size: 1000, values: 100}, &budget{left: left, size: 1000, values: 100}
		gotDoc, gotErr := applyOne(jsonvalue.DeepCopy(doc), &op, gotBudget)
		wantDoc, wantErr := referenceAdd(jsonvalue.DeepCopy(doc), &op, wantBudget)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(gotDoc, wantDoc) || *gotBudget != *wantBudget {
			t.Fatalf("case %d: add %s to %#v:\ngot  %#v, %v, %+v\nwant %#v, %v, %+v", i, op.Path, doc, gotDoc, gotErr, *gotBudget, wantDoc, wantErr, *wantBudget)
		}
		switch {
		case gotErr != nil:
			outcomes["error"]++
		case gotBudget.size != 1000:
			outcomes["changed the size"]++
		default:
			outcomes["other"]++
		}
	}
	if outcomes["error"] < 2000 || outcomes["changed the size"] < 2000 {
		t.Errorf("outcomes %v; the comparison says little", outcomes)
	}
}

func randomDoc(rng *rand.Rand, depth int) any {
	if depth > 3 {
		return json.Number("7")
	}
	switch rng.IntN(5) {
	case 0:
		return "leaf"
	case 1, 2:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[[]string{"a", "b", "0", "-", "x~y", "a/b"}[rng.IntN(6)]] = randomDoc(rng, depth+1)
		}
		return m
	default:
		l := make([]any, rng.IntN(3))
		for i := range l {
			l[i] = randomDoc(rng, depth+1)
		}
		return l
	}
}

// TestMeasureIsSizeAndCount holds measure to encodedSize and countValues.
func TestMeasureIsSizeAndCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		v := randomDoc(rng, 0)
		size, values := measure(v)
		if size != encodedSize(v) || values != countValues(v) {
			t.Fatalf("measure(%#v) = %d, %d; want %d, %d", v, size, values, encodedSize(v), countValues(v))
		}
	}
}

// TestApplyCountsTheValuesExactly applies random patch sets of every
// operation to random documents and checks the counts ApplyCounted keeps
// against a walk of the documents before and after.
func TestApplyCountsTheValuesExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tokens := []string{"a", "b", "0", "1", "-", "x~y", "a/b"}
	values := []string{`1`, `"s"`, `null`, `{}`, `{"k":[2,{"m":null}]}`, `[]`, `["x",{}]`}
	randomPath := func() string {
		path := make([]string, rng.IntN(3))
		for j := range path {
			path[j] = tokens[rng.IntN(len(tokens))]
		}
		return jsonvalue.Pointer(path)
	}
	applied := 0
	for range 40000 {
		var ops []string
		for range 1 + rng.IntN(3) {
			switch op := []string{"add", "add", "remove", "replace", "move", "copy", "test"}[rng.IntN(7)]; op {
			case "remove":
				ops = append(ops, fmt.Sprintf(`{"op":"remove","path":%q}`, randomPath()))
			case "move", "copy":
				ops = append(ops, fmt.Sprintf(`{"op":%q,"from":%q,"path":%q}`, op, randomPath(), randomPath()))
			default:
				ops = append(ops, fmt.Sprintf(`{"op":%q,"path":%q,"value":%s}`, op, randomPath(), values[rng.IntN(len(values))]))
			}
		}
		var patch any
		if err := json.Unmarshal([]byte("["+strings.Join(ops, ",")+"]"), &patch); err != nil {
			t.Fatal(err)
		}
		parsed, err := Parse(patch)
		if err != nil {
			continue // a move into its own child
		}
		doc := randomDoc(rng, 0)
		before := countValues(doc)
		out, counts, err := ApplyCounted(context.Background(), doc, parsed, Limits{})
		if err != nil {
			continue
		}
		applied++
		if counts.Before != before || counts.After != countValues(out) {
			t.Fatalf("%v: counted %+v, the walks say %d before and %d after", ops, counts, before, countValues(out))
		}
	}
	if applied < 3000 {
		t.Errorf("only %d patch sets applied; the comparison says little", applied)
	}
}
