package codec

import (
	"encoding/json"
	"slices"
)

// A direct YAML writer for the trees real deployments are made of: it
// writes, byte for byte, what encodeYAML (go-yaml v3's emitter) writes, for
// trees whose keys and strings need no more than plain style or simple
// double quotes. Anything else (line breaks, non-ASCII text, indicator
// characters, strings go-yaml might read as numbers or timestamps, long
// keys) makes it give up, and encodeYAML writes the whole document. It
// exists because building a node per value and running the emitter was
// about a third of a deployment create's allocations; TestFastYAMLWriterIsTheEmitter
// and FuzzFastYAMLWriter hold it to the emitter's output.

// maxFastYAML is the most the direct writer writes before it leaves the
// document to the emitter: real deployments are a few KiB, and giving up
// late would add the writer's work to the emitter's on documents refused
// for their size.
const maxFastYAML = 64 << 10

// maxSimpleKey is go-yaml's longest simple key; longer keys are written
// in the "? key" form, which this writer leaves to the emitter.
const maxSimpleKey = 128

// fastYAML writes tree as encodeYAML would, or returns ok false when the
// tree holds anything this writer leaves to the emitter, or when the
// output would pass limit bytes (the emitter then reports the bound).
func fastYAML(tree map[string]any, limit int) (out string, ok bool) {
	if len(tree) == 0 {
		return "", false
	}
	w := yamlWriter{buf: make([]byte, 0, 2048), limit: min(limit, maxFastYAML), keys: make([]string, 0, 64)}
	if !w.mapping(tree, 0, false) {
		return "", false
	}
	return string(w.buf), true
}

type yamlWriter struct {
	buf   []byte
	limit int
	// keys is scratch space for sorting each mapping's keys; nested
	// mappings use the part after their parent's.
	keys []string
}

func (w *yamlWriter) indent(n int) {
	for range n {
		w.buf = append(w.buf, ' ')
	}
}

// mapping writes m's entries at column indent; inline means the first entry
// continues a line already started ("- " of a list item).
func (w *yamlWriter) mapping(m map[string]any, indent int, inline bool) bool {
	start := len(w.keys)
	for k := range m {
		w.keys = append(w.keys, k)
	}
	keys := w.keys[start:]
	slices.Sort(keys)
	defer func() { w.keys = w.keys[:start] }()
	for i, k := range keys {
		if i > 0 || !inline {
			w.indent(indent)
		}
		if len(k) > maxSimpleKey || !w.str(k) {
			return false
		}
		v := m[k]
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				w.buf = append(w.buf, ": {}\n"...)
				continue
			}
			w.buf = append(w.buf, ":\n"...)
			if !w.mapping(x, indent+2, false) {
				return false
			}
		case []any:
			if len(x) == 0 {
				w.buf = append(w.buf, ": []\n"...)
				continue
			}
			// Compact sequence indentation: the dashes line up with the key.
			w.buf = append(w.buf, ":\n"...)
			if !w.sequence(x, indent, false) {
				return false
			}
		default:
			w.buf = append(w.buf, ": "...)
			if !w.scalar(v) {
				return false
			}
			w.buf = append(w.buf, '\n')
		}
		if len(w.buf) > w.limit {
			return false
		}
	}
	return true
}

// sequence writes s's items with their dashes at column indent.
func (w *yamlWriter) sequence(s []any, indent int, inline bool) bool {
	for i, v := range s {
		if i > 0 || !inline {
			w.indent(indent)
		}
		w.buf = append(w.buf, "- "...)
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				w.buf = append(w.buf, "{}\n"...)
				continue
			}
			if !w.mapping(x, indent+2, true) {
				return false
			}
		case []any:
			if len(x) == 0 {
				w.buf = append(w.buf, "[]\n"...)
				continue
			}
			if !w.sequence(x, indent+2, true) {
				return false
			}
		default:
			if !w.scalar(v) {
				return false
			}
			w.buf = append(w.buf, '\n')
		}
		if len(w.buf) > w.limit {
			return false
		}
	}
	return true
}

func (w *yamlWriter) scalar(v any) bool {
	switch x := v.(type) {
	case string:
		return w.str(x)
	case json.Number:
		if !simpleNumber(string(x)) {
			return false
		}
		w.buf = append(w.buf, x...)
	case bool:
		if x {
			w.buf = append(w.buf, "true"...)
		} else {
			w.buf = append(w.buf, "false"...)
		}
	case nil:
		w.buf = append(w.buf, "null"...)
	default:
		return false
	}
	return true
}

// str writes a string as stringNode and the emitter would: plain when it
// reads back as itself, else double-quoted; it gives up on strings where
// the emitter's choice depends on more than this checks.
func (w *yamlWriter) str(s string) bool {
	if len(w.buf)+len(s)+2 > w.limit {
		return false
	}
	if s == "" {
		w.buf = append(w.buf, `""`...)
		return true
	}
	if _, kind := resolvePlain(s); kind != kindString {
		// stringNode quotes it; the emitter writes printable ASCII
		// other than " and \ as it is.
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				return false
			}
		}
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
		return true
	}
	if !plainString(s) {
		return false
	}
	w.buf = append(w.buf, s...)
	return true
}

// plainString reports whether go-yaml writes s, a string that resolvePlain
// reads as a string, plain: it starts with a letter, "_" or "/" (so go-yaml
// reads it as a string too; its number and timestamp rules start with
// digits, signs and dots), holds only characters that are never indicators
// in block style, and has no space at either end or before ":" / after ":".
func plainString(s string) bool {
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '/') {
		return false
	}
	last := len(s) - 1
	if s[last] == ' ' {
		return false
	}
	for i := 1; i <= last; i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == '-', c == '/', c == '=', c == '+', c == '@', c == '%', c == '~', c == '(', c == ')', c == ';', c == '$', c == '^':
		case c == ':':
			// ": " and a final ":" are indicators.
			if i == last || s[i+1] == ' ' {
				return false
			}
		case c == ' ':
			// " #" starts a comment; "#" is refused anyway.
		default:
			return false
		}
	}
	return true
}

// simpleNumber reports whether a number's text is JSON's number syntax in
// ASCII, which the emitter writes plain as it is.
func simpleNumber(s string) bool {
	if s == "" {
		return false
	}
	digits := s
	if s[0] == '-' {
		digits = s[1:]
	}
	if digits == "" || digits[0] < '0' || digits[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == 'e', c == 'E', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}
