package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// jsonNode is a JSON value with its members in their written order, so a
// test can rewrite one member or element of a review and keep the rest
// byte for byte.
type jsonNode struct {
	raw     string // a scalar's JSON text
	object  bool
	keys    []string // the members' names, decoded
	members []*jsonNode
	array   bool
	elems   []*jsonNode
}

func parseJSONNode(t *testing.T, dec *json.Decoder) *jsonNode {
	t.Helper()
	tok, err := dec.Token()
	if err != nil {
		t.Fatal(err)
	}
	n := &jsonNode{}
	switch tok := tok.(type) {
	case json.Delim:
		n.object, n.array = tok == '{', tok == '['
		for dec.More() {
			if n.object {
				k, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				n.keys = append(n.keys, k.(string))
				n.members = append(n.members, parseJSONNode(t, dec))
			} else {
				n.elems = append(n.elems, parseJSONNode(t, dec))
			}
		}
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
	case json.Number:
		n.raw = tok.String()
	default:
		b, err := json.Marshal(tok)
		if err != nil {
			t.Fatal(err)
		}
		n.raw = string(b)
	}
	return n
}

// jsonSlot is one member (key set) or array element of a jsonNode tree.
type jsonSlot struct {
	key, value string // the member's name ("" for an element), the value's JSON text
	member     bool
}

// render writes n with the slot numbered target (counted in *at, depth
// first) replaced by what variant writes for it; ok is false if variant
// has nothing for that slot.
func (n *jsonNode) render(b *strings.Builder, at *int, target int, variant func(jsonSlot) (string, bool)) (ok bool) {
	ok = true
	slot := func(s jsonSlot, child *jsonNode) {
		i := *at
		*at++
		if i == target {
			var text string
			if text, ok = variant(s); ok {
				b.WriteString(text)
				// The slot's children are not numbered in this variant,
				// but the count must go on as if they were.
				var skip strings.Builder
				child.render(&skip, at, -1, nil)
				return
			}
		}
		if s.member {
			b.WriteString(quoteJSON(s.key) + ":")
		}
		if !child.render(b, at, target, variant) {
			ok = false
		}
	}
	switch {
	case n.object:
		b.WriteByte('{')
		for i, child := range n.members {
			if i > 0 {
				b.WriteByte(',')
			}
			var v strings.Builder
			child.render(&v, new(int), -1, nil)
			slot(jsonSlot{key: n.keys[i], value: v.String(), member: true}, child)
		}
		b.WriteByte('}')
	case n.array:
		b.WriteByte('[')
		for i, child := range n.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			var v strings.Builder
			child.render(&v, new(int), -1, nil)
			slot(jsonSlot{value: v.String()}, child)
		}
		b.WriteByte(']')
	default:
		b.WriteString(n.raw)
	}
	return ok
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestFastDecodeReadsEveryFieldVariantLikeEncodingJSON rewrites each member
// and element of a kubectl-applied review in turn (a null, a value of every
// other type, a repeated member, a member whose name differs in case or is
// escaped) and checks that DecodeReview reads every one as encoding/json
// does: the fast reader must read it the same or leave it.
func TestFastDecodeReadsEveryFieldVariantLikeEncodingJSON(t *testing.T) {
	var bases []*jsonNode
	for _, body := range [][]byte{appliedReview(t, admissionv1.Update)} { // it holds a create's fields too
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		bases = append(bases, parseJSONNode(t, dec))
	}
	value := func(text string) func(jsonSlot) (string, bool) {
		return func(s jsonSlot) (string, bool) {
			if s.member {
				return quoteJSON(s.key) + ":" + text, true
			}
			return text, true
		}
	}
	member := func(f func(s jsonSlot) string) func(jsonSlot) (string, bool) {
		return func(s jsonSlot) (string, bool) {
			if !s.member {
				return "", false
			}
			return f(s), true
		}
	}
	cases := []struct {
		name    string
		variant func(jsonSlot) (string, bool)
	}{
		{"every value replaced by null is read as encoding/json reads it", value(`null`)},
		{"every value replaced by a number is read as encoding/json reads it", value(`0`)},
		{"every value replaced by a negative fraction is read as encoding/json reads it", value(`-1.5e3`)},
		{"every value replaced by an empty string is read as encoding/json reads it", value(`""`)},
		{"every value replaced by a string is read as encoding/json reads it", value(`"2026-11-26T11:00:00Z"`)},
		{"every value replaced by true is read as encoding/json reads it", value(`true`)},
		{"every value replaced by an empty object is read as encoding/json reads it", value(`{}`)},
		{"every value replaced by an object of nulls is read as encoding/json reads it", value(`{"a":null,"A":1}`)},
		{"every value replaced by an empty list is read as encoding/json reads it", value(`[]`)},
		{"every value replaced by a list of a null is read as encoding/json reads it", value(`[null]`)},
		{"every member repeated is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(s.key) + ":" + s.value + "," + quoteJSON(s.key) + ":" + s.value
		})},
		{"every member repeated with null is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(s.key) + ":" + s.value + "," + quoteJSON(s.key) + ":null"
		})},
		// encoding/json merges a repeated object into the first one's map
		// or struct; the fast reader must leave that to it.
		{"every member repeated with an object of another member is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(s.key) + ":" + s.value + "," + quoteJSON(s.key) + `:{"zz":"MQ=="}`
		})},
		{"every member repeated with an empty value first is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(s.key) + ":{}," + quoteJSON(s.key) + ":" + s.value
		})},
		{"every member named in capitals is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(strings.ToUpper(s.key)) + ":" + s.value
		})},
		{"every member named in capitals after the member is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(s.key) + ":" + s.value + "," + quoteJSON(strings.ToUpper(s.key)) + ":" + s.value
		})},
		{"every member named with an escape is read as encoding/json reads it", member(func(s jsonSlot) string {
			if s.key == "" {
				return `"":` + s.value
			}
			return fmt.Sprintf(`"\u%04x%s:%s`, s.key[0], quoteJSON(s.key)[2:], s.value)
		})},
		{"every member named with a Kelvin sign or long s is read as encoding/json reads it", member(func(s jsonSlot) string {
			return quoteJSON(strings.NewReplacer("k", "\u212a", "s", "\u017f").Replace(s.key)) + ":" + s.value
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			variants := 0
			for _, base := range bases {
				for target := 0; ; target++ {
					var b strings.Builder
					at := 0
					ok := base.render(&b, &at, target, tc.variant)
					if target >= at {
						break
					}
					if ok {
						variants++
						sameAsJSON(t, []byte(b.String()))
					}
				}
			}
			if variants < 100 {
				t.Errorf("only %d variants were read", variants)
			}
		})
	}
}
