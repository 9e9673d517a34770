package codec

import (
	"encoding/json"
	"slices"
	"strings"
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
// tree holds anything this writer leaves to the emitter, when the output
// would pass limit bytes, or when the tree is beyond checkShape's bounds
// (MaxDepth, MaxValues; checkShape then reports the bound).
func fastYAML(tree map[string]any, limit int) (out string, ok bool) {
	return fastYAMLSized(tree, limit, 0)
}

// fastYAMLSized is fastYAML for output expected to be about size bytes: it
// is written into one allocation of that size, which becomes the string.
func fastYAMLSized(tree map[string]any, limit, size int) (out string, ok bool) {
	if len(tree) == 0 {
		return "", false
	}
	w := yamlWriter{limit: min(limit, maxFastYAML), entries: make([]entry, 0, 32)}
	w.buf.Grow(min(max(size, 512), maxFastYAML))
	if !w.mapping(tree, 0, 0, false) || w.values > MaxValues {
		return "", false
	}
	return w.buf.String(), true
}

type entry struct {
	k string
	v any
}

type yamlWriter struct {
	buf   strings.Builder
	limit int
	// entries is scratch space for sorting each mapping's entries by key;
	// nested mappings use the part after their parent's.
	entries []entry
	// values counts the tree's values, keys included, as checkShape does.
	values int
}

// container counts a mapping or list at depth (the top level is 0), giving
// up where checkShape refuses the tree.
func (w *yamlWriter) container(depth int) bool {
	w.values++
	return depth < MaxDepth && w.values <= MaxValues
}

// spaces is enough indentation for MaxDepth levels of two spaces.
var spaces = strings.Repeat(" ", 2*MaxDepth+2)

func (w *yamlWriter) indent(n int) {
	for n > len(spaces) {
		w.buf.WriteString(spaces)
		n -= len(spaces)
	}
	w.buf.WriteString(spaces[:n])
}

// mapping writes m, at depth, with its entries at column indent; inline
// means the first entry continues a line already started ("- " of a list
// item).
func (w *yamlWriter) mapping(m map[string]any, depth, indent int, inline bool) bool {
	if !w.container(depth) {
		return false
	}
	w.values += len(m) // the keys
	start := len(w.entries)
	for k, v := range m {
		w.entries = append(w.entries, entry{k, v})
	}
	entries := w.entries[start:]
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.k, b.k) })
	defer func() { w.entries = w.entries[:start] }()
	for i, e := range entries {
		if i > 0 || !inline {
			w.indent(indent)
		}
		k, v := e.k, e.v
		if len(k) > maxSimpleKey || !w.str(k) {
			return false
		}
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf.WriteString(": {}\n")
				continue
			}
			w.buf.WriteString(":\n")
			if !w.mapping(x, depth+1, indent+2, false) {
				return false
			}
		case []any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf.WriteString(": []\n")
				continue
			}
			// Compact sequence indentation: the dashes line up with the key.
			w.buf.WriteString(":\n")
			if !w.sequence(x, depth+1, indent, false) {
				return false
			}
		default:
			w.values++
			w.buf.WriteString(": ")
			if !w.scalar(v) {
				return false
			}
			w.buf.WriteByte('\n')
		}
		if w.buf.Len() > w.limit {
			return false
		}
	}
	return true
}

// sequence writes s, at depth, with its items' dashes at column indent.
func (w *yamlWriter) sequence(s []any, depth, indent int, inline bool) bool {
	if !w.container(depth) {
		return false
	}
	for i, v := range s {
		if i > 0 || !inline {
			w.indent(indent)
		}
		w.buf.WriteString("- ")
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf.WriteString("{}\n")
				continue
			}
			if !w.mapping(x, depth+1, indent+2, true) {
				return false
			}
		case []any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf.WriteString("[]\n")
				continue
			}
			if !w.sequence(x, depth+1, indent+2, true) {
				return false
			}
		default:
			w.values++
			if !w.scalar(v) {
				return false
			}
			w.buf.WriteByte('\n')
		}
		if w.buf.Len() > w.limit {
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
		w.buf.WriteString(string(x))
	case bool:
		if x {
			w.buf.WriteString("true")
		} else {
			w.buf.WriteString("false")
		}
	case nil:
		w.buf.WriteString("null")
	default:
		return false
	}
	return true
}

// str writes a string as stringNode and the emitter would: plain when it
// reads back as itself, else double-quoted; it gives up on strings where
// the emitter's choice depends on more than this checks.
func (w *yamlWriter) str(s string) bool {
	if w.buf.Len()+len(s)+2 > w.limit {
		return false
	}
	if s == "" {
		w.buf.WriteString(`""`)
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
		w.buf.WriteByte('"')
		w.buf.WriteString(s)
		w.buf.WriteByte('"')
		return true
	}
	if !plainString(s) {
		return false
	}
	w.buf.WriteString(s)
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
		switch plainClass[s[i]] {
		case plainOK:
		case plainColon:
			// ": " and a final ":" are indicators.
			if i == last || s[i+1] == ' ' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// What plainString makes of a byte after the first.
const (
	plainRefused = iota
	plainOK
	plainColon
)

var plainClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			t[c] = plainOK
		case c == '_', c == '.', c == '-', c == '/', c == '=', c == '+', c == '@', c == '%', c == '~', c == '(', c == ')', c == ';', c == '$', c == '^':
			t[c] = plainOK
		case c == ' ':
			// " #" starts a comment; "#" is refused anyway.
			t[c] = plainOK
		case c == ':':
			t[c] = plainColon
		}
	}
	return t
}()

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
