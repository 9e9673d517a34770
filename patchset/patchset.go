// Package patchset parses and applies DeploymentTarget patch sets: RFC 6902
// JSON patches whose add creates missing parent objects.
//
// It applies operations to a decoded document tree rather than through
// github.com/evanphx/json-patch/v5, because that library re-encodes the whole
// document for every operation applied one at a time (needed to create parents
// between operations), and its own EnsurePathExistsOnAdd pads arrays element by
// element and mishandles escaped intermediate keys. Here every operation costs
// time linear in its path and value, so a patch set costs time linear in the
// document and the set. The library remains the reference the tests compare
// against on plain RFC 6902 patches.
package patchset

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on a patch set, checked when a target is parsed (README "Bounds").
const (
	// MaxOperations bounds a patch set. Real targets set a handful of
	// fields; 256 operations leave room for any of them while keeping the
	// per-request work of walking paths small.
	MaxOperations = 256
	// MaxPathTokens bounds the tokens of a path or from pointer. Documents
	// nest at most 64 levels (codec.MaxDepth), so a longer pointer could
	// only name something no document may hold.
	MaxPathTokens = 64
	// maxPreview bounds how much of a value a message shows.
	maxPreview = 80
)

// Operation is one validated patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from,omitempty"`
	Value any    `json:"value,omitempty"`
	// HasValue tells an explicit null value from an absent one.
	HasValue bool `json:"-"`

	path, from []string
	// valueSize is the encoded size of Value, counted once at parse time.
	valueSize int
}

// Appends reports whether the operation appends to an array ("/-"), which
// repeats on every modification of a deployment.
func (o *Operation) Appends() bool {
	return (o.Op == "add" || o.Op == "copy" || o.Op == "move") && len(o.path) > 0 && o.path[len(o.path)-1] == "-"
}

var validOps = map[string]bool{"add": true, "remove": true, "replace": true, "move": true, "copy": true, "test": true}

// Parse validates a patch set given as decoded JSON values (a list of
// mappings). Errors name the operation's index and field.
func Parse(v any) ([]Operation, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf(" must be a list of operations, got %s", KindOf(v))
	}
	if len(list) > MaxOperations {
		return nil, fmt.Errorf(" has %d operations; at most %d are allowed, so split the target or merge operations (one add can set a whole mapping)", len(list), MaxOperations)
	}
	ops := make([]Operation, 0, len(list))
	for i, item := range list {
		op, err := parseOne(item)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func parseOne(item any) (Operation, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return Operation{}, fmt.Errorf("an operation must be a mapping with op and path, got %s", KindOf(item))
	}
	var unknown []string
	for k := range m {
		switch k {
		case "op", "path", "from", "value":
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Operation{}, fmt.Errorf("unknown field %q; an operation has only op, path, value and from", unknown[0])
	}
	var op Operation
	s, ok := m["op"].(string)
	if !ok || !validOps[s] {
		return Operation{}, fmt.Errorf("op is %s; it must be one of add, remove, replace, move, copy, test", describeField(m, "op"))
	}
	op.Op = s
	p, ok := m["path"].(string)
	if !ok {
		return Operation{}, fmt.Errorf("path is %s; it must be a JSON pointer string such as /spec/template", describeField(m, "path"))
	}
	tokens, err := parseBoundedPointer(p)
	if err != nil {
		return Operation{}, fmt.Errorf("path: %w", err)
	}
	op.Path, op.path = p, tokens
	op.Value, op.HasValue = m["value"]
	op.valueSize = encodedSize(op.Value)
	needsValue := op.Op == "add" || op.Op == "replace" || op.Op == "test"
	if needsValue && !op.HasValue {
		return Operation{}, fmt.Errorf("%s needs a value", op.Op)
	}
	if !needsValue && op.HasValue {
		return Operation{}, fmt.Errorf("%s takes no value; remove the value field", op.Op)
	}
	f, hasFrom := m["from"]
	needsFrom := op.Op == "move" || op.Op == "copy"
	if needsFrom != hasFrom {
		if needsFrom {
			return Operation{}, fmt.Errorf("%s needs from, the JSON pointer to take the value from", op.Op)
		}
		return Operation{}, fmt.Errorf("%s takes no from; remove the from field", op.Op)
	}
	if needsFrom {
		fs, ok := f.(string)
		if !ok {
			return Operation{}, fmt.Errorf("from is %s; it must be a JSON pointer string", Describe(f))
		}
		ft, err := parseBoundedPointer(fs)
		if err != nil {
			return Operation{}, fmt.Errorf("from: %w", err)
		}
		if op.Op == "move" && isPrefix(ft, tokens) && len(ft) < len(tokens) {
			return Operation{}, fmt.Errorf("move from %s into its own child %s is impossible", fs, p)
		}
		op.From, op.from = fs, ft
	}
	return op, nil
}

// parseBoundedPointer is ParsePointer for at most MaxPathTokens tokens,
// refused before the pointer is split.
func parseBoundedPointer(p string) ([]string, error) {
	if n := strings.Count(p, "/"); n > MaxPathTokens {
		return nil, fmt.Errorf("the pointer has %d tokens; at most %d are allowed, as documents nest at most that deep", n, MaxPathTokens)
	}
	return ParsePointer(p)
}

// ParsePointer splits an RFC 6901 JSON pointer into unescaped tokens.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must be empty or start with /", p)
	}
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		for j := 0; j < len(part); j++ {
			if part[j] == '~' && (j+1 >= len(part) || (part[j+1] != '0' && part[j+1] != '1')) {
				return nil, fmt.Errorf("%q has a ~ not followed by 0 or 1; write ~0 for ~ and ~1 for /", p)
			}
		}
		if strings.Contains(part, "~") {
			// ~1 first, so that "~01" becomes "~1" and not "/".
			parts[i] = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		}
	}
	return parts, nil
}

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
	docSize := encodedSize(doc)
	total := docSize
	for i := range ops {
		total += ops[i].valueSize + len(ops[i].Path) + len(ops[i].From)
	}
	b := &budget{left: workFactor*total + minWork, size: docSize, values: countValues(doc)}
	for i := range ops {
		op := &ops[i]
		fail := func(reason string, tooLarge bool) error {
			return &Error{Index: i, Op: op.Op, Path: op.Path, Reason: reason, TooLarge: tooLarge}
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("apply the patch set: %w", err)
		}
		var err error
		doc, err = applyOne(doc, op, b)
		switch {
		case err != nil:
			return nil, fail(err.Error(), false)
		case b.left < 0:
			return nil, fail(fmt.Sprintf("the patch set does more work than %d times the size of the document and patch set (copies, moves or array shifts on this scale are refused)", workFactor), false)
		case lim.MaxBytes > 0 && b.size > lim.MaxBytes:
			return nil, fail(fmt.Sprintf("the patched document would be larger than %d bytes", lim.MaxBytes), true)
		case lim.MaxValues > 0 && b.values > lim.MaxValues:
			return nil, fail(fmt.Sprintf("the patched document would have more than %d values", lim.MaxValues), true)
		}
	}
	return doc, nil
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
}

// charge spends the work of touching v and returns its size and values.
func (b *budget) charge(v any) (size, values int) {
	size, values = encodedSize(v), countValues(v)
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
	return deepCopy(v)
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
		if n := len(op.path); n > 0 && op.path[n-1] == "-" {
			if _, err := get(doc, op.path[:len(op.path)-1]); err != nil {
				return nil, fmt.Errorf("cannot append to %s: %v; create the array first (add %s with value [])", render(op.path[:len(op.path)-1]), err, render(op.path[:len(op.path)-1]))
			}
		}
		if old, err := get(doc, op.path); err == nil && !appendsOrInserts(doc, op.path) {
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
		if old, err := get(d, op.path); err == nil && !appendsOrInserts(d, op.path) {
			b.removed(b.charge(old))
		}
		return add(d, op.path, v, false, b)
	case "copy":
		v, err := get(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		size, values := encodedSize(v), countValues(v)
		if old, err := get(doc, op.path); err == nil && !appendsOrInserts(doc, op.path) {
			b.removed(b.charge(old))
		}
		return add(doc, op.path, b.copy(v, size, values), false, b)
	case "test":
		v, err := get(doc, op.path)
		if err != nil {
			return nil, err
		}
		b.left -= op.valueSize
		if !Equal(v, op.Value) {
			return nil, fmt.Errorf("the value at %s is %s, not the expected %s", op.Path, Preview(v), Preview(op.Value))
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
	p, err := parent(doc, path, false)
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
func get(doc any, path []string) (any, error) {
	if len(path) == 0 {
		return doc, nil
	}
	p, err := parent(doc, path, false)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := p.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, fmt.Errorf("%s does not exist", render(path))
		}
		return v, nil
	case []any:
		idx, err := index(last, len(c), false)
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", render(path[:len(path)-1]), err)
		}
		return c[idx], nil
	default:
		return nil, fmt.Errorf("%s is %s, which has no member %q", render(path[:len(path)-1]), KindOf(p), last)
	}
}

// parent walks to the container holding the last token. With create, missing
// objects on the way are created (never arrays, and arrays are never padded).
func parent(doc any, path []string, create bool) (any, error) {
	cur := doc
	for i, tok := range path[:len(path)-1] {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				if !create {
					return nil, fmt.Errorf("%s does not exist", render(path[:i+1]))
				}
				v = map[string]any{}
				c[tok] = v
			}
			cur = v
		case []any:
			idx, err := index(tok, len(c), false)
			if err != nil {
				return nil, fmt.Errorf("at %s: %w", render(path[:i]), err)
			}
			cur = c[idx]
		default:
			return nil, fmt.Errorf("%s is %s, which has no member %q", render(path[:i]), KindOf(cur), tok)
		}
	}
	return cur, nil
}

// add inserts v at path and returns the (possibly new) document root.
func add(doc any, path []string, v any, create bool, b *budget) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	p, err := parent(doc, path, create)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := p.(type) {
	case map[string]any:
		c[last] = v
		return doc, nil
	case []any:
		idx, err := index(last, len(c), true)
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", render(path[:len(path)-1]), err)
		}
		b.left -= (len(c) - idx) * shiftCost
		grown := append(c, nil)
		copy(grown[idx+1:], grown[idx:])
		grown[idx] = v
		return setChild(doc, path[:len(path)-1], grown)
	default:
		return nil, fmt.Errorf("%s is %s, which has no member %q", render(path[:len(path)-1]), KindOf(p), last)
	}
}

// remove deletes the value at path and returns it and the document root.
func remove(doc any, path []string, b *budget) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("the whole document cannot be removed")
	}
	p, err := parent(doc, path, false)
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch c := p.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, fmt.Errorf("%s does not exist", render(path))
		}
		delete(c, last)
		return v, doc, nil
	case []any:
		idx, err := index(last, len(c), false)
		if err != nil {
			return nil, nil, fmt.Errorf("at %s: %w", render(path[:len(path)-1]), err)
		}
		v := c[idx]
		b.left -= (len(c) - idx) * shiftCost
		// In place: the document belongs to this request alone.
		copy(c[idx:], c[idx+1:])
		c[len(c)-1] = nil
		shrunk := c[:len(c)-1]
		d, err := setChild(doc, path[:len(path)-1], shrunk)
		return v, d, err
	default:
		return nil, nil, fmt.Errorf("%s is %s, which has no member %q", render(path[:len(path)-1]), KindOf(p), last)
	}
}

// setChild stores a resized array back into its parent: Go slices that grow
// or shrink are new values.
func setChild(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	p, err := parent(doc, path, false)
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := p.(type) {
	case map[string]any:
		c[last] = v
	case []any:
		idx, err := index(last, len(c), false)
		if err != nil {
			return nil, err
		}
		c[idx] = v
	}
	return doc, nil
}

// index parses an RFC 6901 array index. "-" (the end) is allowed only where
// an element is inserted. Leading zeros and negative indices are refused, and
// an index beyond the array is refused before anything is allocated.
func index(tok string, n int, inserting bool) (int, error) {
	if tok == "-" {
		if inserting {
			return n, nil
		}
		return 0, fmt.Errorf("- (the end of the array) names no element here")
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.TrimLeft(tok, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not an array index (use 0, 1, ... or - to append)", tok)
	}
	limit := n - 1
	if inserting {
		limit = n
	}
	if len(tok) > 9 {
		return 0, fmt.Errorf("index %s is out of range for an array of %d elements", tok, n)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i > limit {
		return 0, fmt.Errorf("index %s is out of range for an array of %d elements", tok, n)
	}
	return i, nil
}

func isPrefix(prefix, path []string) bool {
	if len(prefix) > len(path) {
		return false
	}
	for i := range prefix {
		if prefix[i] != path[i] {
			return false
		}
	}
	return true
}

// render writes tokens back as an escaped JSON pointer for messages.
func render(tokens []string) string {
	if len(tokens) == 0 {
		return "the document root"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(EscapeToken(t))
	}
	return b.String()
}

// Equal compares JSON values; numbers compare by value, so 1 equals 1.0.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		return x == y || numbersEqual(string(x), string(y))
	default:
		return a == b
	}
}

// numbersEqual compares two JSON numbers by exact decimal value, so 1 equals
// 1.0 and 1e0 but 2^53 does not equal 2^53+1. Both are JSON numbers, so
// their digits are bounded by the document; a huge exponent is compared as
// an integer, never expanded.
func numbersEqual(a, b string) bool {
	na, okA := decimal(a)
	nb, okB := decimal(b)
	return okA && okB && na == nb
}

// decimalValue is a number as sign, significant digits (no leading or
// trailing zeros) and exponent: value = digits × 10^exp. Equal values have
// equal decimalValues.
type decimalValue struct {
	neg    bool
	digits string
	exp    int64
}

// decimal normalizes a JSON number without expanding its exponent; ok is
// false for text that is not a number or an exponent beyond int64.
func decimal(s string) (decimalValue, bool) {
	var d decimalValue
	if strings.HasPrefix(s, "-") {
		d.neg = true
		s = s[1:]
	}
	mant, exp := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], strings.TrimPrefix(s[i+1:], "+")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return d, false
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" {
		return d, false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if strings.Trim(digits, "0123456789") != "" {
		return d, false
	}
	trimmed := strings.TrimRight(digits, "0")
	zeros := int64(len(digits) - len(trimmed))
	if digits == "" {
		return decimalValue{}, true // zero, whatever its sign
	}
	// e - len(frac) + zeros, refusing overflow rather than wrapping.
	adj := zeros - int64(len(frac))
	if (adj > 0 && e > (1<<63-1)-adj) || (adj < 0 && e < (-1<<63)-adj) {
		return d, false
	}
	d.digits, d.exp = trimmed, e+adj
	return d, true
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

// DeepCopy copies a tree of JSON values.
func DeepCopy(v any) any { return deepCopy(v) }

// KindOf names a JSON value's type for messages.
func KindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Describe renders a value for a message: strings quoted, numbers as
// written, anything else by its type.
func Describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	default:
		return KindOf(v)
	}
}

// Preview renders a value as compact JSON for a message, cut after about
// maxPreview bytes.
func Preview(v any) string {
	var b strings.Builder
	preview(&b, v)
	if b.Len() > maxPreview {
		cut := maxPreview
		for cut > 0 && !utf8.RuneStart(b.String()[cut]) {
			cut--
		}
		return b.String()[:cut] + "..."
	}
	return b.String()
}

func preview(b *strings.Builder, v any) {
	if b.Len() > maxPreview {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if b.Len() > maxPreview {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quotePreview(k))
			b.WriteByte(':')
			preview(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if b.Len() > maxPreview {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			preview(b, e)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(quotePreview(x))
	case json.Number:
		b.WriteString(string(x))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	default:
		b.WriteString(KindOf(v))
	}
}

// quotePreview quotes at most a preview's worth of a string.
func quotePreview(s string) string {
	if len(s) > maxPreview {
		s = s[:maxPreview]
	}
	return strconv.Quote(s)
}

// describeField renders a field of an operation for a message, telling an
// absent field from one of the wrong type.
func describeField(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok {
		return "missing"
	}
	return Describe(v)
}

// EscapeToken escapes one reference token for a JSON pointer (RFC 6901):
// ~ becomes ~0 and / becomes ~1.
func EscapeToken(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
