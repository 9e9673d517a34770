package codec

import (
	"encoding/json"
	"slices"
	"strings"
	"unsafe"
)

// A direct YAML writer for the trees real deployments are made of: it
// writes, byte for byte, what encodeYAML (go-yaml v3's emitter) writes, for
// trees whose keys and strings are printable ASCII the emitter writes
// plain, single-quoted, simply double-quoted, or (strings of several
// lines) as a literal block scalar. Anything else (non-ASCII text, tabs,
// strings go-yaml v3 might read as numbers or timestamps, block scalars
// needing an indentation indicator or keep chomping, long keys) makes it
// give up, and encodeYAML writes the whole document. It exists because
// building a node per value and running the emitter was about a third of
// a deployment create's allocations; TestFastYAMLWriterIsTheEmitter,
// TestCorpusTakesTheFastPaths and FuzzFastYAMLWriter hold it to the
// emitter's output.

// maxFastYAML is the most the direct writer writes before it leaves the
// document to the emitter: real deployments are a few KiB, and giving up
// late would add the writer's work to the emitter's on documents refused
// for their size.
const maxFastYAML = MaxDocumentBytes

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
	w := yamlWriter{buf: make([]byte, 0, min(max(size, 512), maxFastYAML)), limit: min(limit, maxFastYAML), entries: make([]entry, 0, 24)}
	if !w.mapping(tree, 0, 0, false) || w.values > MaxValues {
		return "", false
	}
	// The buffer becomes the string, as strings.Builder's does: nothing
	// writes to it any more.
	return unsafe.String(unsafe.SliceData(w.buf), len(w.buf)), true
}

type entry struct {
	k string
	v any
}

type yamlWriter struct {
	buf   []byte
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
		w.buf = append(w.buf, spaces...)
		n -= len(spaces)
	}
	w.buf = append(w.buf, spaces[:n]...)
}

// mapping writes m, at depth, with its entries at column indent; inline
// means the first entry continues a line already started ("- " of a list
// item).
func (w *yamlWriter) mapping(m map[string]any, depth, indent int, inline bool) bool {
	if !w.container(depth) {
		return false
	}
	w.values += len(m) // the keys
	if w.values > MaxValues {
		return false
	}
	start := len(w.entries)
	for k, v := range m {
		w.entries = append(w.entries, entry{k, v})
	}
	entries := w.entries[start:]
	defer func() { w.entries = w.entries[:start] }()
	// The entries' positions are sorted, not the entries: moving an entry
	// writes three pointers, each through the garbage collector's write
	// barrier while it marks, which cost more than the sort itself.
	var small [16]uint16
	order := small[:0]
	if len(entries) > len(small) {
		order = make([]uint16, 0, len(entries)) // at most MaxValues
	}
	for i := range entries {
		order = append(order, uint16(i))
	}
	if len(order) <= len(small) {
		for i := 1; i < len(order); i++ {
			for j := i; j > 0 && entries[order[j]].k < entries[order[j-1]].k; j-- {
				order[j], order[j-1] = order[j-1], order[j]
			}
		}
	} else {
		slices.SortFunc(order, func(a, b uint16) int { return strings.Compare(entries[a].k, entries[b].k) })
	}
	for i, at := range order {
		e := entries[at]
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
				w.buf = append(w.buf, ": {}\n"...)
				continue
			}
			w.buf = append(w.buf, ":\n"...)
			if !w.mapping(x, depth+1, indent+2, false) {
				return false
			}
		case []any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf = append(w.buf, ": []\n"...)
				continue
			}
			// Compact sequence indentation: the dashes line up with the key.
			w.buf = append(w.buf, ":\n"...)
			if !w.sequence(x, depth+1, indent, false) {
				return false
			}
		case string:
			w.values++
			w.buf = append(w.buf, ": "...)
			if !w.value(x, indent+2) {
				return false
			}
		default:
			w.values++
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

// sequence writes s, at depth, with its items' dashes at column indent.
func (w *yamlWriter) sequence(s []any, depth, indent int, inline bool) bool {
	if !w.container(depth) {
		return false
	}
	for i, v := range s {
		if i > 0 || !inline {
			w.indent(indent)
		}
		w.buf = append(w.buf, "- "...)
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				if !w.container(depth + 1) {
					return false
				}
				w.buf = append(w.buf, "{}\n"...)
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
				w.buf = append(w.buf, "[]\n"...)
				continue
			}
			if !w.sequence(x, depth+1, indent+2, true) {
				return false
			}
		case string:
			w.values++
			if !w.value(x, indent+2) {
				return false
			}
		default:
			w.values++
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

// value writes a string value and its line break: a string of several
// lines as the emitter's literal block scalar (content at column indent),
// any other as str does.
func (w *yamlWriter) value(s string, indent int) bool {
	if strings.IndexByte(s, '\n') < 0 {
		if !w.str(s) {
			return false
		}
		w.buf = append(w.buf, '\n')
		return true
	}
	// The emitter writes it as a literal block scalar when its analysis
	// allows one; only what needs no indentation indicator and no "+"
	// chomping is written here.
	body, clip := strings.CutSuffix(s, "\n")
	if body == "" || body[0] == ' ' || body[0] == '\n' || strings.HasSuffix(body, "\n") ||
		strings.HasSuffix(s, " ") || strings.Contains(s, " \n") {
		return false
	}
	for i := 0; i < len(body); i++ {
		if c := body[i]; c != '\n' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	if len(w.buf)+len(s)+(indent+1)*(strings.Count(s, "\n")+2) > w.limit {
		return false
	}
	if clip {
		w.buf = append(w.buf, "|\n"...)
	} else {
		w.buf = append(w.buf, "|-\n"...)
	}
	for body != "" {
		line := body
		if j := strings.IndexByte(body, '\n'); j >= 0 {
			line, body = body[:j], body[j+1:]
		} else {
			body = ""
		}
		if line != "" {
			w.indent(indent)
			w.buf = append(w.buf, line...)
		}
		w.buf = append(w.buf, '\n')
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
	switch plainString(s) {
	case writePlain:
		w.buf = append(w.buf, s...)
	case writeSingleQuoted:
		// The emitter's fallback when plain style is not allowed: single
		// quotes, each quote inside doubled.
		w.buf = append(w.buf, '\'')
		for i := 0; i < len(s); i++ {
			if s[i] == '\'' {
				w.buf = append(w.buf, '\'')
			}
			w.buf = append(w.buf, s[i])
		}
		w.buf = append(w.buf, '\'')
	default:
		return false
	}
	return true
}

// How the emitter writes a string that resolvePlain reads as a string.
const (
	writeRefused = iota // the emitter's choice depends on more than plainString checks
	writePlain
	writeSingleQuoted
)

// plainString says how go-yaml writes s, a non-empty string that
// resolvePlain reads as a string, in block context: plain when the
// emitter's analysis (yaml_emitter_analyze_scalar) allows it, else single
// quoted. Only printable ASCII on one line is decided here. A string
// starting with a digit, sign or dot is taken only when it holds a letter
// that none of go-yaml v3's number and timestamp forms can hold, so that
// v3's resolve reads it as a string too and does not force double quotes.
func plainString(s string) int {
	plain := true
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == '+', c == '.':
		if !hasWordLetter(s) {
			return writeRefused
		}
	case c == '-':
		if len(s) == 1 || s[1] == ' ' {
			plain = false
		} else if !hasWordLetter(s) {
			return writeRefused
		}
	case c == '?', c == ':':
		plain = len(s) > 1 && s[1] != ' '
	case c == ' ', c == '#', c == ',', c == '[', c == ']', c == '{', c == '}', c == '&', c == '*', c == '!', c == '|', c == '>', c == '\'', c == '"', c == '%', c == '@', c == '`':
		plain = false
	case c < 0x20 || c > 0x7e:
		return writeRefused
	}
	if len(s) >= 3 && (s[:3] == "---" || s[:3] == "...") {
		plain = false
	}
	last := len(s) - 1
	if s[last] == ' ' {
		plain = false
	}
	for i := 1; i <= last; i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e:
			return writeRefused // line breaks, tabs, controls, non-ASCII
		case c == ':':
			// ": " and a final ":" are indicators.
			if i == last || s[i+1] == ' ' {
				plain = false
			}
		case c == '#':
			if s[i-1] == ' ' {
				plain = false
			}
		}
	}
	if plain {
		return writePlain
	}
	return writeSingleQuoted
}

// hasWordLetter reports whether s holds a letter that cannot be part of a
// number or timestamp go-yaml v3 resolves: not a hex digit, not x, o
// (0x, 0o), t or z (timestamps); or two dots, which none of those hold
// (versions such as 1.20.0).
func hasWordLetter(s string) bool {
	if strings.Count(s, ".") >= 2 {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case for letters
		if c >= 'g' && c <= 'w' && c != 'o' && c != 't' || c == 'y' {
			return true
		}
	}
	return false
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
