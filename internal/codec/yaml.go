package codec

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// yamlShape counts the values a YAML document can hold at most: the
// document's own, two for each , : [ { and ? (a mapping entry written
// without a value gets a null one) and one for each "- " (a sequence item).
// Line breaks start no value of their own (a key or an item needs one of
// those indicators), so a long multi-line string counts only its indicators.
// It also finds the most brackets open at once, and the line where that
// happens. Both overcount (indicators and brackets inside strings count
// too); they only bound what the parser may be handed.
func yamlShape(s string) (marks, open, line int) {
	marks, line = 1, 1
	depth, lines := 0, 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			lines++
		case '[', '{':
			marks += 2
			depth++
			if depth > open {
				open, line = depth, lines
			}
		case ']', '}':
			depth = max(depth-1, 0)
		case ',', ':':
			marks += 2
		case '-', '?':
			if i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\n' || s[i+1] == '\t' {
				marks += indicatorMarks(s[i])
			}
		}
	}
	return marks, open, line
}

func decodeYAML(ctx context.Context, raw string) (map[string]any, error) {
	// The direct reader's first pass counts yamlShape's marks of the
	// documents it takes, so the bounds below are checked on them first.
	r := yamlReader{ctx: ctx}
	if r.split(raw) {
		if r.marks > maxYAMLMarks {
			return nil, tooManyMarks(r.marks)
		}
		if tree, ok := r.read(); ok {
			return tree, nil
		}
		if r.tooMany {
			return nil, tooManyValues()
		}
	}
	marks, open, openLine := yamlShape(raw)
	if marks > maxYAMLMarks {
		return nil, tooManyMarks(marks)
	}
	if open > maxYAMLOpenBrackets {
		return nil, tooLarge("nesting depth", MaxDepth, "nests deeper than %d levels (%d brackets are open at line %d); real documents are far shallower, so flatten it", MaxDepth, open, openLine)
	}
	dec := yaml.NewDecoder(strings.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf("is empty")
		}
		return nil, errorf("is not valid YAML or JSON: %v", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, errorf("is not valid YAML or JSON after the first document: %v", err)
	default:
		return nil, errorf("holds more than one YAML document (another starts at line %d); keep exactly one document, without further --- separators", max(next.Line, 1))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errorf("is empty")
	}
	if strings.Contains(raw, "&") {
		// Measure first, with shared subtrees counted once per use but
		// walked once, so a billion laughs is refused in linear time.
		if n := expandedSize(&doc, map[*yaml.Node]int{}); n > MaxExpandedBytes {
			return nil, tooLarge("bytes", MaxExpandedBytes, "expands through YAML aliases to more than %d bytes; write the document out without aliases", MaxExpandedBytes)
		}
	}
	c := &yamlConverter{ctx: ctx}
	v, err := c.convert(doc.Content[0], 0)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("is %s, not a mapping with kind and spec", jsonvalue.KindOf(v))
	}
	return m, nil
}

// indicatorMarks is what a "- " or "? " indicator counts in yamlShape.
func indicatorMarks(c byte) int {
	if c == '?' {
		return 2
	}
	return 1
}

func tooManyValues() error {
	return tooLarge("values", MaxValues, "has more than %d values (aliases expanded)", MaxValues)
}

func tooManyMarks(marks int) error {
	return tooLarge("values", MaxValues, "has too many places where a value can start: %d (each , : [ { and ? counts 2, each - 1, inside strings too; at most %d are parsed)", marks, maxYAMLMarks)
}

func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		return v
	}
	memo[n] = MaxExpandedBytes + 1 // a cycle counts as too large
	size := len(n.Value) + 1
	if n.Kind == yaml.AliasNode {
		size = expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		size += expandedSize(c, memo)
		if size > MaxExpandedBytes {
			break
		}
	}
	memo[n] = size
	return size
}

// yamlConverter turns parsed nodes into JSON values, expanding aliases
// within MaxValues values and MaxExpandedBytes bytes.
type yamlConverter struct {
	ctx    context.Context
	values int
	bytes  int
	path   []string
}

func (c *yamlConverter) count(n *yaml.Node) error {
	c.values++
	c.bytes += len(n.Value) + 1
	if c.values > MaxValues {
		return tooManyValues()
	}
	if c.bytes > MaxExpandedBytes {
		return tooLarge("bytes", MaxExpandedBytes, "expands through YAML aliases to more than %d bytes; write the document out without aliases", MaxExpandedBytes)
	}
	if c.values%ctxEvery == 0 {
		if err := c.ctx.Err(); err != nil {
			return fmt.Errorf("decode document: %w", err)
		}
	}
	return nil
}

func (c *yamlConverter) convert(n *yaml.Node, depth int) (any, error) {
	if err := c.count(n); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.AliasNode:
		c.values-- // the alias stands for its target, counted next
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.MappingNode, yaml.SequenceNode:
		if depth >= MaxDepth {
			return nil, tooLarge("nesting depth", MaxDepth, "nests deeper than %d levels at %s (line %d); real documents are far shallower, so flatten it", MaxDepth, pointer(c.path), n.Line)
		}
		if err := c.collectionTag(n); err != nil {
			return nil, err
		}
		if n.Kind == yaml.SequenceNode {
			out := make([]any, 0, len(n.Content))
			for i, e := range n.Content {
				c.path = append(c.path, strconv.Itoa(i))
				v, err := c.convert(e, depth+1)
				c.path = c.path[:len(c.path)-1]
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, nil
		}
		return c.mapping(n, depth)
	}
	return nil, errorf("has an unsupported YAML node at line %d", n.Line)
}

func (c *yamlConverter) collectionTag(n *yaml.Node) error {
	if n.Style&yaml.TaggedStyle == 0 {
		return nil
	}
	want := "!!map"
	if n.Kind == yaml.SequenceNode {
		want = "!!seq"
	}
	if n.ShortTag() != want {
		return errorf("uses the tag %s at %s (line %d), which is not supported; remove it", n.Tag, pointer(c.path), n.Line)
	}
	return nil
}

func (c *yamlConverter) mapping(n *yaml.Node, depth int) (any, error) {
	out := make(map[string]any, len(n.Content)/2)
	lines := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.Tag == "!!merge" && kn.Style&yaml.TaggedStyle == 0 {
			merges = append(merges, vn)
			continue
		}
		if err := c.count(kn); err != nil {
			return nil, err
		}
		k, err := c.key(kn)
		if err != nil {
			return nil, err
		}
		if first, dup := lines[k]; dup {
			return nil, errorf("has the key %q twice in the mapping at %s (lines %d and %d); remove one of them", k, pointer(c.path), first, kn.Line)
		}
		lines[k] = kn.Line
		c.path = append(c.path, k)
		v, err := c.convert(vn, depth+1)
		c.path = c.path[:len(c.path)-1]
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	// Merge keys (<<: *base) add what the mapping does not set itself;
	// earlier sources win, as the YAML merge key type says.
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if resolveAlias(m).Kind == yaml.SequenceNode {
			sources = resolveAlias(m).Content
		}
		for _, src := range sources {
			v, err := c.convert(src, depth)
			if err != nil {
				return nil, err
			}
			sm, ok := v.(map[string]any)
			if !ok {
				return nil, errorf("merges %s into the mapping at %s with << (line %d); << must refer to mappings", jsonvalue.KindOf(v), pointer(c.path), m.Line)
			}
			for k, e := range sm {
				if _, set := out[k]; !set {
					out[k] = e
				}
			}
		}
	}
	return out, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// key turns a mapping key into the string JSON uses: scalars become their
// value's text (true, 1, null), as Kubernetes' YAML reader does.
func (c *yamlConverter) key(n *yaml.Node) (string, error) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode {
		return "", errorf("has a %s as a key in the mapping at %s (line %d); keys must be strings", kindName(n.Kind), pointer(c.path), n.Line)
	}
	v, err := c.scalar(n)
	if err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return string(x), nil
	}
	return "", errorf("has an unsupported key at line %d", n.Line)
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// scalar resolves a scalar as YAML 1.1 (Kubernetes' reader) does, keeping
// numbers exact.
func (c *yamlConverter) scalar(n *yaml.Node) (any, error) {
	tagged := n.Style&yaml.TaggedStyle != 0
	if !tagged {
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
		v, kind := resolvePlain(n.Value)
		switch kind {
		case kindSpecialFloat:
			return nil, errorf("holds %s at %s (line %d), which is not a number JSON can hold; quote it if it is meant as text", n.Value, pointer(c.path), n.Line)
		case kindString, kindMerge:
			return n.Value, nil
		}
		return v, nil
	}
	bad := func() (any, error) {
		return nil, errorf("holds %s %q at %s (line %d), which is not a valid %s", n.Tag, n.Value, pointer(c.path), n.Line, n.ShortTag())
	}
	switch n.ShortTag() {
	case "!!str", "!!timestamp":
		return n.Value, nil
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil || !utf8.Valid(b) {
			return bad()
		}
		return string(b), nil
	case "!!null", "!!bool", "!!int", "!!float":
		v, kind := resolvePlain(n.Value)
		want := map[string]scalarKind{"!!null": kindNull, "!!bool": kindBool, "!!int": kindNumber, "!!float": kindNumber}[n.ShortTag()]
		if kind != want {
			return bad()
		}
		return v, nil
	}
	return nil, errorf("uses the tag %s at %s (line %d), which is not supported; remove it", n.Tag, pointer(c.path), n.Line)
}
