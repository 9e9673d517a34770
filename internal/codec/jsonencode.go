package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// encodeJSON writes v as encoding/json would (sorted keys, HTML left
// unescaped, two-space indentation when indent is set).
func encodeJSON(w *cappedWriter, v any, indent bool) error {
	e := &jsonEncoder{w: w, indent: indent}
	e.value(v, 0)
	return e.err
}

type jsonEncoder struct {
	w       *cappedWriter
	indent  bool
	scratch bytes.Buffer
	enc     *json.Encoder
	err     error
}

func (e *jsonEncoder) newline(depth int) {
	if !e.indent {
		return
	}
	_ = e.w.WriteByte('\n')
	for range depth {
		_, _ = e.w.WriteString("  ")
	}
}

func (e *jsonEncoder) value(v any, depth int) {
	if e.w.err != nil || e.err != nil {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			_, _ = e.w.WriteString("{}")
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		_ = e.w.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				_ = e.w.WriteByte(',')
			}
			e.newline(depth + 1)
			e.str(k)
			_ = e.w.WriteByte(':')
			if e.indent {
				_ = e.w.WriteByte(' ')
			}
			e.value(x[k], depth+1)
		}
		e.newline(depth)
		_ = e.w.WriteByte('}')
	case []any:
		if len(x) == 0 {
			_, _ = e.w.WriteString("[]")
			return
		}
		_ = e.w.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				_ = e.w.WriteByte(',')
			}
			e.newline(depth + 1)
			e.value(el, depth+1)
		}
		e.newline(depth)
		_ = e.w.WriteByte(']')
	case string:
		e.str(x)
	case json.Number:
		_, _ = e.w.WriteString(string(x))
	case bool:
		_, _ = e.w.WriteString(strconv.FormatBool(x))
	case nil:
		_, _ = e.w.WriteString("null")
	default:
		e.err = fmt.Errorf("cannot encode a %T", v)
	}
}

// str writes a JSON string; only strings that need escapes go through
// encoding/json, so the output matches it byte for byte.
func (e *jsonEncoder) str(s string) {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		_ = e.w.WriteByte('"')
		_, _ = e.w.WriteString(s)
		_ = e.w.WriteByte('"')
		return
	}
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.scratch)
		e.enc.SetEscapeHTML(false)
	}
	e.scratch.Reset()
	if err := e.enc.Encode(s); err != nil {
		e.err = fmt.Errorf("encode string: %w", err)
		return
	}
	_, _ = e.w.Write(bytes.TrimSuffix(e.scratch.Bytes(), []byte{'\n'}))
}
