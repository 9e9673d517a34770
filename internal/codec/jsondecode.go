package codec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonSyntaxError is text that is not JSON; Decode then tries YAML.
type jsonSyntaxError struct{ msg string }

func (e *jsonSyntaxError) Error() string { return e.msg }

func asSyntax(err error, target **jsonSyntaxError) bool { return errors.As(err, target) }

// jsonDecoder is a strict, bounded JSON reader: one value, no duplicate
// keys, at most MaxDepth levels and MaxValues values, numbers as written.
type jsonDecoder struct {
	ctx    context.Context
	s      string
	pos    int
	values int
	path   []string
}

func decodeJSON(ctx context.Context, s string) (map[string]any, error) {
	d := &jsonDecoder{ctx: ctx, s: s}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos != len(d.s) {
		return nil, d.syntax("unexpected data after the document")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &jsonSyntaxError{"not a JSON object"}
	}
	return m, nil
}

func (d *jsonDecoder) syntax(msg string) error {
	return &jsonSyntaxError{fmt.Sprintf("%s at line %d", msg, line(d.s, d.pos))}
}

// line is the 1-based line of a byte offset, for messages.
func line(s string, pos int) int {
	return strings.Count(s[:min(pos, len(s))], "\n") + 1
}

func (d *jsonDecoder) space() {
	for d.pos < len(d.s) {
		switch d.s[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) count() error {
	d.values++
	if d.values > MaxValues {
		return tooLarge("values", MaxValues, "has more than %d values", MaxValues)
	}
	if d.values%ctxEvery == 0 {
		if err := d.ctx.Err(); err != nil {
			return fmt.Errorf("decode document: %w", err)
		}
	}
	return nil
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if err := d.count(); err != nil {
		return nil, err
	}
	d.space()
	if d.pos >= len(d.s) {
		return nil, d.syntax("unexpected end of the document")
	}
	switch c := d.s[d.pos]; {
	case c == '{' || c == '[':
		if depth >= MaxDepth {
			return nil, tooLarge("nesting depth", MaxDepth, "nests deeper than %d levels at %s (line %d); real documents are far shallower, so flatten it", MaxDepth, pointer(d.path), line(d.s, d.pos))
		}
		if c == '{' {
			return d.object(depth + 1)
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case strings.HasPrefix(d.s[d.pos:], "true"):
		d.pos += 4
		return true, nil
	case strings.HasPrefix(d.s[d.pos:], "false"):
		d.pos += 5
		return false, nil
	case strings.HasPrefix(d.s[d.pos:], "null"):
		d.pos += 4
		return nil, nil
	}
	return nil, d.syntax(fmt.Sprintf("unexpected %q", d.s[d.pos]))
}

func (d *jsonDecoder) object(depth int) (any, error) {
	d.pos++ // {
	m := map[string]any{}
	lines := map[string]int{}
	d.space()
	if d.pos < len(d.s) && d.s[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.space()
		if d.pos >= len(d.s) || d.s[d.pos] != '"' {
			return nil, d.syntax("expected a quoted key")
		}
		keyPos := d.pos
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		if err := d.count(); err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errorf("has the key %q twice in the mapping at %s (lines %d and %d); remove one of them", k, pointer(d.path), lines[k], line(d.s, keyPos))
		}
		lines[k] = line(d.s, keyPos)
		d.space()
		if d.pos >= len(d.s) || d.s[d.pos] != ':' {
			return nil, d.syntax("expected : after a key")
		}
		d.pos++
		d.path = append(d.path, k)
		v, err := d.value(depth)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.pos >= len(d.s) {
			return nil, d.syntax("unexpected end of the document")
		}
		switch d.s[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.syntax("expected , or }")
		}
	}
}

func (d *jsonDecoder) array(depth int) (any, error) {
	d.pos++ // [
	a := []any{}
	d.space()
	if d.pos < len(d.s) && d.s[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		d.path = append(d.path, strconv.Itoa(len(a)))
		v, err := d.value(depth)
		d.path = d.path[:len(d.path)-1]
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.space()
		if d.pos >= len(d.s) {
			return nil, d.syntax("unexpected end of the document")
		}
		switch d.s[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.syntax("expected , or ]")
		}
	}
}

// number reads a JSON number and keeps its text exactly.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	s := d.s
	i := d.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return nil, d.syntax("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return nil, d.syntax("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return nil, d.syntax("invalid number")
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return json.Number(s[start:i]), nil
}

// str reads a quoted string; strings without escapes share the input.
func (d *jsonDecoder) str() (string, error) {
	d.pos++ // "
	start := d.pos
	s := d.s
	for i := start; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return s[start:i], nil
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			d.pos = i
			return "", d.syntax("control character in a string")
		}
	}
	return "", d.syntax("unterminated string")
}

func (d *jsonDecoder) escaped(start int) (string, error) {
	s := d.s
	var b strings.Builder
	for i := start; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return b.String(), nil
		case c < 0x20:
			d.pos = i
			return "", d.syntax("control character in a string")
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch s[i+1] {
		case '"', '\\', '/':
			b.WriteByte(s[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				d.pos = i
				return "", d.syntax("invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b.WriteRune(dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
			continue
		default:
			d.pos = i
			return "", d.syntax("invalid escape")
		}
		i += 2
	}
	return "", d.syntax("unterminated string")
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 32)
	return rune(v), err == nil
}
