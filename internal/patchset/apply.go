package patchset

import (
	"context"
	"encoding/json"
	"fmt"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// Error says which operation failed and why.
type Error struct {
	Index  int
	Op     string
	Path   string
	Reason string
	// TooLarge is set when the operation would make the document larger
	// than Limits allow.
	TooLarge bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("operation %d (%s %s) failed: %s", e.Index, e.Op, e.Path, e.Reason)
}

// Limits bound the document a patch set may produce.
type Limits struct {
	// MaxBytes bounds the document's encoded (compact JSON) size.
	MaxBytes int
	// MaxValues bounds its values, mapping keys included.
	MaxValues int
}

// Apply applies ops in order to doc, a tree of JSON values as decoded with
// UseNumber, and returns the new tree. doc is modified in place; values from
// ops are copied, so ops can be shared between requests.
//
// The work is bounded in bytes: every value an operation copies, moves,
// inserts, removes or compares costs its encoded size, every array element
// shifted costs shiftCost, and every path costs its length. The total may
// be at most workFactor times the encoded size of the document and the
// patch set, plus minWork, so a short hostile patch set (copies that double
// the document, thousands of inserts at the front of a long array, copies of
// a long string) fails at once instead of running for seconds. A document
// that grows beyond lim fails as soon as it does, and ctx is checked before
// every operation.
func Apply(ctx context.Context, doc any, ops []Operation, lim Limits) (any, error) {
	out, _, err := ApplyCounted(ctx, doc, ops, lim)
	return out, err
}

// Counts are how many values a document had before a patch set was
// applied and has after, a mapping's keys included.
type Counts struct{ Before, After int }

// ApplyCounted is Apply, also counting the document's values before and
// after, without walking the document again: equal trees have as many
// values, so a different count shows the patch set changed the document.
func ApplyCounted(ctx context.Context, doc any, ops []Operation, lim Limits) (any, Counts, error) {
	docSize, docValues := measure(doc)
	total := docSize
	for i := range ops {
		total += ops[i].valueSize + len(ops[i].Path) + len(ops[i].From)
	}
	b := &budget{left: workFactor*total + minWork, size: docSize, values: docValues, count: docValues}
	for i := range ops {
		op := &ops[i]
		fail := func(reason string, tooLarge bool) error {
			return &Error{Index: i, Op: op.Op, Path: op.Path, Reason: reason, TooLarge: tooLarge}
		}
		if err := ctx.Err(); err != nil {
			return nil, Counts{}, fmt.Errorf("apply the patch set: %w", err)
		}
		var err error
		doc, err = applyOne(doc, op, b)
		switch {
		case err != nil:
			return nil, Counts{}, fail(err.Error(), false)
		case b.left < 0:
			return nil, Counts{}, fail(fmt.Sprintf("the patch set does more work than %d times the size of the document and patch set (copies, moves or array shifts on this scale are refused)", workFactor), false)
		case lim.MaxBytes > 0 && b.size > lim.MaxBytes:
			return nil, Counts{}, fail(fmt.Sprintf("the patched document would be larger than %d bytes", lim.MaxBytes), true)
		case lim.MaxValues > 0 && b.values > lim.MaxValues:
			return nil, Counts{}, fail(fmt.Sprintf("the patched document would have more than %d values", lim.MaxValues), true)
		}
	}
	return doc, Counts{Before: docValues, After: b.count}, nil
}

const (
	workFactor = 8
	// minWork lets small documents take small patch sets of any shape.
	minWork = 64 << 10
	// shiftCost is what moving one array element costs: its slot's size.
	shiftCost = 16
)

// budget counts the work left in bytes, and tracks the document's size and
// value count as operations change it.
type budget struct {
	left   int
	size   int
	values int
	// count is the document's exact number of values (countValues), kept
	// apart from values, an estimate the limit has always been checked on.
	count int
}

// charge spends the work of touching v and returns its size and values.
func (b *budget) charge(v any) (size, values int) {
	size, values = measure(v)
	b.left -= size
	return size, values
}

// copy charges and copies v; past the budget it returns nil, and the caller
// reports the exhausted budget.
func (b *budget) copy(v any, size, values int) any {
	b.left -= size
	if b.left < 0 {
		return nil
	}
	b.size += size
	b.values += values
	return jsonvalue.DeepCopy(v)
}

// removed records that a value of this size left the document.
func (b *budget) removed(size, values int) {
	b.size -= size
	b.values -= values
}

func applyOne(doc any, op *Operation, b *budget) (any, error) {
	b.left -= len(op.Path) + len(op.From)
	switch op.Op {
	case "add":
		n := len(op.path)
		if n > 0 && op.path[n-1] == "-" {
			if _, err := get(doc, op.path[:len(op.path)-1]); err != nil {
				return nil, fmt.Errorf("cannot append to %s: %v; create the array first (add %s with value [])", render(op.path[:len(op.path)-1]), err, render(op.path[:len(op.path)-1]))
			}
		}
		if n > 0 {
			// Where the parent exists, as it usually does, one walk to it
			// tells what the three walks below tell: whether a member is
			// replaced, and where to put the value.
			if p, ok := find(doc, op.path[:n-1]); ok { // parent's walk, without its words
				if c, isMap := p.(map[string]any); isMap {
					if old, ok := c[op.path[n-1]]; ok {
						b.removed(b.charge(old))
					}
				}
				return addInto(doc, op.path, p, b.copy(op.Value, op.valueSize, countValues(op.Value)), b)
			}
		}
		if old, ok := find(doc, op.path); ok && !appendsOrInserts(doc, op.path) {
			b.removed(b.charge(old))
		}
		return add(doc, op.path, b.copy(op.Value, op.valueSize, countValues(op.Value)), true, b)
	case "remove":
		v, d, err := remove(doc, op.path, b)
		if err == nil {
			b.removed(b.charge(v))
		}
		return d, err
	case "replace":
		old, err := get(doc, op.path)
		if err != nil {
			return nil, err
		}
		b.removed(b.charge(old))
		_, d, err := remove(doc, op.path, b)
		if err != nil {
			return nil, err
		}
		return add(d, op.path, b.copy(op.Value, op.valueSize, countValues(op.Value)), false, b)
	case "move":
		if isPrefix(op.from, op.path) && len(op.from) == len(op.path) {
			_, err := get(doc, op.from)
			return doc, err
		}
		v, d, err := remove(doc, op.from, b)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		b.charge(v)
		if old, ok := find(d, op.path); ok && !appendsOrInserts(d, op.path) {
			b.removed(b.charge(old))
		}
		return add(d, op.path, v, false, b)
	case "copy":
		v, err := get(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		size, values := measure(v)
		if old, ok := find(doc, op.path); ok && !appendsOrInserts(doc, op.path) {
			b.removed(b.charge(old))
		}
		return add(doc, op.path, b.copy(v, size, values), false, b)
	case "test":
		v, err := get(doc, op.path)
		if err != nil {
			return nil, err
		}
		b.left -= op.valueSize
		if !jsonvalue.Equal(v, op.Value) {
			return nil, fmt.Errorf("the value at %s is %s, not the expected %s", op.Path, jsonvalue.Preview(v), jsonvalue.Preview(op.Value))
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.Op)
}

// appendsOrInserts reports whether adding at path inserts into an array
// rather than replacing a mapping member.
func appendsOrInserts(doc any, path []string) bool {
	if len(path) == 0 {
		return false
	}
	p, err := parent(doc, path, nil)
	if err != nil {
		return false
	}
	_, isArray := p.([]any)
	return isArray
}

// encodedSize is the size of v written as compact JSON, counting a string
// by its bytes and two quotes (escapes aside).
func encodedSize(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 2
		for k, e := range x {
			n += len(k) + 4 + encodedSize(e)
		}
		return n
	case []any:
		n := 2
		for _, e := range x {
			n += 1 + encodedSize(e)
		}
		return n
	case string:
		return len(x) + 2
	case json.Number:
		return len(x)
	case bool:
		if x {
			return 4
		}
		return 5
	default:
		return 4
	}
}

// measure is encodedSize and countValues in one walk.
func measure(v any) (size, values int) {
	switch x := v.(type) {
	case map[string]any:
		size, values = 2, 1
		for k, e := range x {
			s, n := measure(e)
			size += len(k) + 4 + s
			values += 1 + n
		}
		return size, values
	case []any:
		size, values = 2, 1
		for _, e := range x {
			s, n := measure(e)
			size += 1 + s
			values += n
		}
		return size, values
	}
	return encodedSize(v), 1
}

// countValues counts the values in a tree, a mapping's keys included.
func countValues(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 1
		for _, e := range x {
			n += 1 + countValues(e)
		}
		return n
	case []any:
		n := 1
		for _, e := range x {
			n += countValues(e)
		}
		return n
	default:
		return 1
	}
}

// get returns the value at the pointer.
