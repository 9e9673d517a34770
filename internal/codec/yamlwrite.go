package codec

import (
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
