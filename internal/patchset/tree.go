package patchset

import (
	"fmt"
	"strings"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// The pointer walk under every operation: get, add and remove a value at a
// path of a decoded JSON tree.

func get(doc any, path []string) (any, error) {
	if len(path) == 0 {
		return doc, nil
	}
	p, err := parent(doc, path, nil)
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
		return nil, noMember(path[:len(path)-1], p, last)
	}
}

// find is get without the reason: the checks that only ask whether a
// value is there (does add replace one?) would otherwise build an error
// message for every new member. It finds exactly what get finds.
func find(doc any, path []string) (any, bool) {
	cur := doc
	for _, tok := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, ok := arrayIndex(tok, len(c), false)
			if !ok {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// parent walks to the container holding the last token. With created set,
// missing objects on the way are created (never arrays, and arrays are never
// padded), and the values they add (a key and a mapping each) counted in it.
func parent(doc any, path []string, created *int) (any, error) {
	cur := doc
	for i, tok := range path[:len(path)-1] {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				if created == nil {
					return nil, fmt.Errorf("%s does not exist", render(path[:i+1]))
				}
				v = map[string]any{}
				c[tok] = v
				*created += 2
			}
			cur = v
		case []any:
			idx, err := index(tok, len(c), false)
			if err != nil {
				return nil, fmt.Errorf("at %s: %w", render(path[:i]), err)
			}
			cur = c[idx]
		default:
			return nil, noMember(path[:i], cur, tok)
		}
	}
	return cur, nil
}

// add inserts v at path and returns the (possibly new) document root.
func add(doc any, path []string, v any, create bool, b *budget) (any, error) {
	if len(path) == 0 {
		b.count = countValues(v)
		return v, nil
	}
	var created *int
	if create {
		created = &b.count
	}
	p, err := parent(doc, path, created)
	if err != nil {
		return nil, err
	}
	return addInto(doc, path, p, v, b)
}

// addInto is add once p, the parent of path's last token, is found.
func addInto(doc any, path []string, p, v any, b *budget) (any, error) {
	last := path[len(path)-1]
	switch c := p.(type) {
	case map[string]any:
		if old, ok := c[last]; ok {
			b.count -= countValues(old)
		} else {
			b.count++ // the key
		}
		c[last] = v
		b.count += countValues(v)
		return doc, nil
	case []any:
		idx, err := index(last, len(c), true)
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", render(path[:len(path)-1]), err)
		}
		b.count += countValues(v)
		b.left -= (len(c) - idx) * shiftCost
		grown := append(c, nil)
		copy(grown[idx+1:], grown[idx:])
		grown[idx] = v
		return setChild(doc, path[:len(path)-1], grown)
	default:
		return nil, noMember(path[:len(path)-1], p, last)
	}
}

// remove deletes the value at path and returns it and the document root.
func remove(doc any, path []string, b *budget) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("the whole document cannot be removed")
	}
	p, err := parent(doc, path, nil)
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
		b.count -= 1 + countValues(v)
		return v, doc, nil
	case []any:
		idx, err := index(last, len(c), false)
		if err != nil {
			return nil, nil, fmt.Errorf("at %s: %w", render(path[:len(path)-1]), err)
		}
		v := c[idx]
		b.count -= countValues(v)
		b.left -= (len(c) - idx) * shiftCost
		// In place: the document belongs to this request alone.
		copy(c[idx:], c[idx+1:])
		c[len(c)-1] = nil
		shrunk := c[:len(c)-1]
		d, err := setChild(doc, path[:len(path)-1], shrunk)
		return v, d, err
	default:
		return nil, nil, noMember(path[:len(path)-1], p, last)
	}
}

// setChild stores a resized array back into its parent: Go slices that grow
// or shrink are new values.
func setChild(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	p, err := parent(doc, path, nil)
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
	if i, ok := arrayIndex(tok, n, inserting); ok {
		return i, nil
	}
	switch {
	case tok == "-":
		return 0, fmt.Errorf("- (the end of the array) names no element here")
	case tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.TrimLeft(tok, "0123456789") != "":
		return 0, fmt.Errorf("%q is not an array index (use 0, 1, ... or - to append)", tok)
	}
	return 0, fmt.Errorf("index %s is out of range for an array of %d elements", tok, n)
}

// arrayIndex is index without the words: the rule alone, for look-ups that
// only ask whether an element exists and must not build messages.
func arrayIndex(tok string, n int, inserting bool) (int, bool) {
	if tok == "-" {
		return n, inserting
	}
	if tok == "" || len(tok) > 9 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	i := 0
	for k := 0; k < len(tok); k++ {
		if tok[k] < '0' || tok[k] > '9' {
			return 0, false
		}
		i = i*10 + int(tok[k]-'0')
	}
	if i > n || (i == n && !inserting) {
		return 0, false
	}
	return i, true
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
	return jsonvalue.Pointer(tokens)
}

// noMember says that the value at path, neither mapping nor list, cannot
// hold the token tok.
func noMember(path []string, v any, tok string) error {
	return fmt.Errorf("%s is %s, which has no member %q", render(path), jsonvalue.KindOf(v), tok)
}
