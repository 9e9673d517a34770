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
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
		return nil, fmt.Errorf("must be a list of operations, got %s", KindOf(v))
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
	tokens, err := ParsePointer(p)
	if err != nil {
		return Operation{}, fmt.Errorf("path: %w", err)
	}
	op.Path, op.path = p, tokens
	op.Value, op.HasValue = m["value"]
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
		ft, err := ParsePointer(fs)
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
}

func (e *Error) Error() string {
	return fmt.Sprintf("operation %d (%s %s) failed: %s", e.Index, e.Op, e.Path, e.Reason)
}

// Apply applies ops in order to doc, a tree of JSON values as decoded with
// UseNumber, and returns the new tree. doc is modified in place; values from
// ops are copied, so ops can be shared between requests.
//
// The work is bounded: copying values and shifting array elements may cost
// at most workFactor times the size of the document and the patch set, so a
// short hostile patch set (copies that double the document, thousands of
// inserts at the front of a long array) fails at once instead of running for
// seconds or exhausting memory.
func Apply(doc any, ops []Operation) (any, error) {
	size := nodes(doc)
	for i := range ops {
		size += nodes(ops[i].Value) + len(ops[i].path) + len(ops[i].from)
	}
	b := &budget{left: workFactor*size + minWork}
	for i := range ops {
		op := &ops[i]
		var err error
		doc, err = applyOne(doc, op, b)
		if err == nil && b.left < 0 {
			err = fmt.Errorf("the patch set does more work than %d times the size of the document and patch set (copies or array shifts on this scale are refused)", workFactor)
		}
		if err != nil {
			return nil, &Error{Index: i, Op: op.Op, Path: op.Path, Reason: err.Error()}
		}
	}
	return doc, nil
}

const (
	workFactor = 8
	minWork    = 4096
)

// budget counts the work left: values copied and array elements shifted.
type budget struct{ left int }

func (b *budget) copy(v any) any {
	b.left -= nodes(v)
	if b.left < 0 {
		return nil // the caller reports the exhausted budget
	}
	return deepCopy(v)
}

func applyOne(doc any, op *Operation, b *budget) (any, error) {
	b.left -= len(op.path) + len(op.from)
	switch op.Op {
	case "add":
		return add(doc, op.path, b.copy(op.Value), true, b)
	case "remove":
		_, d, err := remove(doc, op.path, b)
		return d, err
	case "replace":
		if _, err := get(doc, op.path); err != nil {
			return nil, err
		}
		_, d, err := remove(doc, op.path, b)
		if err != nil {
			return nil, err
		}
		return add(d, op.path, b.copy(op.Value), false, b)
	case "move":
		if isPrefix(op.from, op.path) && len(op.from) == len(op.path) {
			_, err := get(doc, op.from)
			return doc, err
		}
		v, d, err := remove(doc, op.from, b)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return add(d, op.path, v, false, b)
	case "copy":
		v, err := get(doc, op.from)
		if err != nil {
			return nil, fmt.Errorf("from: %w", err)
		}
		return add(doc, op.path, b.copy(v), false, b)
	case "test":
		v, err := get(doc, op.path)
		if err != nil {
			return nil, err
		}
		b.left -= nodes(op.Value)
		if !Equal(v, op.Value) {
			return nil, fmt.Errorf("the value at %s is not the expected one", op.Path)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.Op)
}

// nodes counts the values in a tree.
func nodes(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := 1
		for _, e := range x {
			n += nodes(e)
		}
		return n
	case []any:
		n := 1
		for _, e := range x {
			n += nodes(e)
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
		b.left -= len(c) - idx
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
		b.left -= len(c) - idx
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
		if x == y {
			return true
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return err1 == nil && err2 == nil && fx == fy
	default:
		return a == b
	}
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
