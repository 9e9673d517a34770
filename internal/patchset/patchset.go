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
	"fmt"
	"sort"
	"strings"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// Bounds on a patch set, checked when a target is parsed (docs/security.md, "Bounds").
const (
	// MaxOperations bounds a patch set. Real targets set a handful of
	// fields; 256 operations leave room for any of them while keeping the
	// per-request work of walking paths small.
	MaxOperations = 256
	// MaxPathTokens bounds the tokens of a path or from pointer. Documents
	// nest at most 64 levels (codec.MaxDepth), so a longer pointer could
	// only name something no document may hold.
	MaxPathTokens = 64
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
		return nil, fmt.Errorf(" must be a list of operations, got %s", jsonvalue.KindOf(v))
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
		return Operation{}, fmt.Errorf("an operation must be a mapping with op and path, got %s", jsonvalue.KindOf(item))
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
			return Operation{}, fmt.Errorf("from is %s; it must be a JSON pointer string", jsonvalue.Describe(f))
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

// parseBoundedPointer is jsonvalue.ParsePointer for at most MaxPathTokens tokens,
// refused before the pointer is split.
func parseBoundedPointer(p string) ([]string, error) {
	if n := strings.Count(p, "/"); n > MaxPathTokens {
		return nil, fmt.Errorf("the pointer has %d tokens; at most %d are allowed, as documents nest at most that deep", n, MaxPathTokens)
	}
	return jsonvalue.ParsePointer(p)
}

// describeField renders a field of an operation for a message, telling an
// absent field from one of the wrong type.
func describeField(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok {
		return "missing"
	}
	return jsonvalue.Describe(v)
}
