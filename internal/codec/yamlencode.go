package codec

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// encodeYAML writes v as block-style YAML with sorted keys and two-space
// indentation. Strings that a YAML 1.1 or 1.2 reader would take for
// something else (true, yes, 010, ~, <<) are quoted, numbers are written as
// their exact text.
func encodeYAML(w *cappedWriter, v any) error {
	root, err := yamlNode(v)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	return nil
}

func yamlNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &yaml.Node{Kind: yaml.MappingNode, Content: make([]*yaml.Node, 0, 2*len(keys))}
		for _, k := range keys {
			vn, err := yamlNode(x[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, stringNode(k), vn)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Content: make([]*yaml.Node, 0, len(x))}
		for _, e := range x {
			en, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, en)
		}
		return n, nil
	case string:
		return stringNode(x), nil
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: string(x)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatBool(x)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: "null"}, nil
	}
	return nil, fmt.Errorf("cannot encode a %T", v)
}

// stringNode is a string scalar, double-quoted when read back unquoted it
// would not be the same string, or when it holds characters some YAML
// readers take for line breaks.
func stringNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if _, kind := resolvePlain(s); kind != kindString || strings.ContainsAny(s, "\u0085\u2028\u2029\ufeff") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}
