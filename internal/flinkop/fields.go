package flinkop

// Reading typed fields of the decoded document, each error naming the
// field's dotted path.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// object returns m[key] as a mapping; nil when absent (or null) unless
// required.
func object(m map[string]any, key, field string, required bool) (map[string]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		if required {
			return nil, deny(field, "is missing; a Deployment to run needs it")
		}
		return nil, nil
	}
	o, isMap := v.(map[string]any)
	if !isMap {
		return nil, deny(field, "must be a mapping, got %s", kindOf(v))
	}
	return o, nil
}

// objectList returns m[key] as a list of mappings.
func objectList(m map[string]any, key, field string) ([]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	l, isList := v.([]any)
	if !isList {
		return nil, deny(field, "must be a list, got %s", kindOf(v))
	}
	for i, e := range l {
		if _, isMap := e.(map[string]any); !isMap {
			return nil, deny(fmt.Sprintf("%s[%d]", field, i), "must be a mapping, got %s", kindOf(e))
		}
	}
	return l, nil
}

// stringMap returns m[key] as a mapping of strings.
func stringMap(m map[string]any, key, field string) (map[string]any, error) {
	o, err := object(m, key, field, false)
	if err != nil || o == nil {
		return nil, err
	}
	for _, k := range sortedKeys(o) {
		if _, isString := o[k].(string); !isString {
			return nil, deny(field+"."+k, "must be a string, got %s; quote it", kindOf(o[k]))
		}
	}
	return o, nil
}

// str returns m[key] as a string, "" when absent or null.
func str(m map[string]any, key, field string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, isString := v.(string)
	if !isString {
		return "", deny(field, "must be a string, got %s", kindOf(v))
	}
	return s, nil
}

// lineString is str for a value the operator writes into Flink's
// configuration file (the JAR URI, the entry class, the image), which
// Flink reads line by line: a control character in it is denied, as in
// flinkConfiguration, since a line break would start another key there.
func lineString(m map[string]any, key, field string) (string, error) {
	s, err := str(m, key, field)
	if err != nil {
		return "", err
	}
	if r, ok := controlChar(s); ok {
		return "", deny(field, "holds the control character %U: the operator writes it into Flink's configuration file, read line by line, where a line break would start another key; write it on one line, without control characters", r)
	}
	return s, nil
}

// maxCount bounds parallelism and task managers: well beyond any cluster,
// and inside the CRD's int32.
const maxCount = 1 << 20

func positiveInt(m map[string]any, key, field string) (*int64, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	n, isNumber := v.(json.Number)
	i, err := n.Int64()
	if !isNumber || err != nil || i < 1 || i > maxCount {
		return nil, deny(field, "must be a whole number from 1 to %d, got %s", maxCount, describe(v))
	}
	return &i, nil
}

// onlyFields denies the first unknown field of m, in sorted order.
func onlyFields(m map[string]any, prefix string, known []string) error {
	for _, k := range sortedKeys(m) {
		found := false
		for _, f := range known {
			if k == f {
				found = true
				break
			}
		}
		if !found {
			return deny(prefix+k, "is not a field flinkgate can translate into a FlinkDeployment; the fields there are %s", strings.Join(known, ", "))
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	}
	return kindOf(v)
}
