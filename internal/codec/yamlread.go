package codec

import (
	"context"
	"strings"
)

// A direct YAML reader for the documents kubectl users write: block
// mappings and lists, plain scalars, quoted keys and values without escapes
// on one line, comments, literal and folded block scalars after a key, and
// flow collections (yamlflow.go). For those it builds the tree decodeYAML
// builds (the same scalar rules, resolvePlain and key, decide every
// value); anything else (anchors, tags, multi-line plain and quoted
// scalars, escapes, tabs, non-ASCII text, duplicate keys, directives and
// document markers, anything beyond the bounds) makes it give up, and
// go-yaml reads the document, with its error messages. It exists because
// go-yaml's node tree was about 40 % of a deployment create's
// allocations, and a realistic deployment left for go-yaml ran at 0.18x
// the bare server (issue 24); TestFastYAMLReaderIsTheParser,
// TestCorpusTakesTheFastPaths and FuzzFastYAMLReader hold it to
// decodeYAML's result.

// maxFastKey is below go-yaml's longest simple key (its colon at most 1024
// characters from its start).
const maxFastKey = 1000

type yamlLine struct {
	indent int
	text   string // after the indentation, without trailing spaces
	// afterComment says a comment line came before this one, after the
	// previous line: a flow collection continued past it is left to
	// go-yaml.
	afterComment bool
	// next is where the line after it starts in the document.
	next int
}

type yamlReader struct {
	ctx   context.Context
	raw   string
	lines []yamlLine
	// marks is what yamlShape counts of a document split accepts.
	marks  int
	i      int
	values int
	failed bool
	// tooMany says the reader gave up at MaxValues values: go-yaml would
	// count as many, so decodeYAML refuses the document without it.
	tooMany bool
}

// fastReadYAML reads raw as decodeYAML would, or returns ok false when raw
// holds anything this reader leaves to go-yaml.
func fastReadYAML(ctx context.Context, raw string) (map[string]any, bool) {
	r := yamlReader{ctx: ctx}
	if !r.split(raw) {
		return nil, false
	}
	return r.read()
}

// read reads the lines split found.
func (r *yamlReader) read() (map[string]any, bool) {
	if len(r.lines) == 0 {
		return nil, false
	}
	first := r.lines[0]
	if first.text == "-" || strings.HasPrefix(first.text, "- ") {
		return nil, false
	}
	var m map[string]any
	if first.text[0] == '{' {
		// A document written as one flow mapping.
		r.i++
		v, _ := r.flowValue(first.text, first.indent-1, 0).(map[string]any)
		if v == nil {
			return nil, false
		}
		m = v
	} else {
		m = r.mapping(first.indent, 0)
	}
	if r.failed || r.i != len(r.lines) || r.ctx.Err() != nil {
		return nil, false
	}
	return m, true
}

// split cuts raw into non-blank lines, refusing every character this
// reader does not handle anywhere in the document. In the same pass it
// counts yamlShape's marks, so decodeYAML scans such a document once; the
// reader gives up on brackets nested MaxDepth deep, far fewer than
// yamlShape's bound on open brackets.
func (r *yamlReader) split(raw string) bool {
	marks, breaks := 1, 0
	for i := 0; i < len(raw); i++ {
		switch splitClass[raw[i]] {
		case splitPlain:
		case splitBreak:
			breaks++
		case splitMark:
			marks += 2
		case splitIndicator:
			if i+1 == len(raw) || raw[i+1] == ' ' || raw[i+1] == '\n' {
				marks += indicatorMarks(raw[i]) // a tab after it is refused
			}
		default:
			return false
		}
	}
	r.marks = marks
	r.raw = raw
	r.lines = make([]yamlLine, 0, breaks+1)
	comment := false
	for len(raw) > 0 {
		line := raw
		if j := strings.IndexByte(raw, '\n'); j >= 0 {
			line, raw = raw[:j], raw[j+1:]
		} else {
			raw = ""
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		end := len(line)
		for end > indent && line[end-1] == ' ' {
			end--
		}
		text := line[indent:end]
		if text == "" {
			continue
		}
		if text[0] == '#' {
			comment = true
			continue
		}
		if strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...") {
			return false
		}
		r.lines = append(r.lines, yamlLine{indent: indent, text: text, afterComment: comment, next: len(r.raw) - len(raw)})
		comment = false
	}
	return true
}

// What split does with each byte.
const (
	splitPlain = iota
	splitBreak
	splitMark      // , : [ and {
	splitIndicator // - and ?, marks when a space or the end follows
	splitRefused   // tabs, carriage returns, controls, non-ASCII, \
)

var splitClass = func() (t [256]byte) {
	for c := range t {
		switch {
		case c == '\n':
			t[c] = splitBreak
		case c == ',', c == ':', c == '[', c == '{':
			t[c] = splitMark
		case c == '-', c == '?':
			t[c] = splitIndicator
		case c < 0x20, c >= 0x7f, c == '\\':
			t[c] = splitRefused
		}
	}
	return t
}()

// count counts a value as yamlConverter does, giving up where it would
// refuse, and checks ctx as often.
func (r *yamlReader) count() bool {
	r.values++
	if r.values > MaxValues {
		r.tooMany = true
		return false
	}
	if r.values%ctxEvery == 0 && r.ctx.Err() != nil {
		return false
	}
	return true
}

func (r *yamlReader) fail() any {
	r.failed = true
	return nil
}

// mapping reads the entries of a block mapping whose keys start at column
// indent.
func (r *yamlReader) mapping(indent, depth int) map[string]any {
	if depth >= MaxDepth || !r.count() {
		r.fail()
		return nil
	}
	out := map[string]any{}
	for !r.failed && r.i < len(r.lines) {
		l := r.lines[r.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent || l.text == "-" || strings.HasPrefix(l.text, "- ") {
			r.fail()
			break
		}
		k, rest, ok := splitKey(l.text)
		if !ok || !r.count() {
			r.fail()
			break
		}
		if _, dup := out[k]; dup {
			r.fail()
			break
		}
		r.i++
		if rest != "" && rest[0] == '#' {
			rest = "" // "key: # comment"
		}
		if rest != "" && (rest[0] == '[' || rest[0] == '{') {
			out[k] = r.flowValue(rest, indent, depth+1)
			continue
		}
		if rest != "" && (rest[0] == '|' || rest[0] == '>') {
			v, ok := r.blockScalar(rest, indent)
			if !ok || !r.count() {
				r.fail()
				break
			}
			out[k] = v
			continue
		}
		if rest != "" {
			v, ok := scalarValue(rest)
			if !ok || !r.count() {
				r.fail()
				break
			}
			out[k] = v
			continue
		}
		out[k] = r.nested(indent, depth)
	}
	return out
}

// nested reads the value of a key with nothing after its colon: a block
// below it, a list at its own column, or null.
func (r *yamlReader) nested(indent, depth int) any {
	if r.i < len(r.lines) {
		next := r.lines[r.i]
		item := next.text == "-" || strings.HasPrefix(next.text, "- ")
		switch {
		case next.indent > indent && item, next.indent == indent && item:
			return r.sequence(next.indent, depth+1)
		case next.indent > indent:
			return r.mapping(next.indent, depth+1)
		}
	}
	if !r.count() {
		return r.fail()
	}
	return nil
}

// sequence reads the items of a block list whose dashes are at column
// indent.
func (r *yamlReader) sequence(indent, depth int) []any {
	if depth >= MaxDepth || !r.count() {
		r.fail()
		return nil
	}
	out := []any{}
	for !r.failed && r.i < len(r.lines) {
		l := r.lines[r.i]
		if l.indent != indent || !strings.HasPrefix(l.text, "- ") {
			if l.indent > indent || (l.indent == indent && l.text == "-") {
				r.fail()
			}
			break
		}
		content := strings.TrimLeft(l.text[2:], " ")
		column := indent + len(l.text) - len(content)
		if content == "-" || strings.HasPrefix(content, "- ") || content[0] == '#' {
			r.fail()
			break
		}
		if content[0] == '[' || content[0] == '{' {
			r.i++
			out = append(out, r.flowValue(content, indent, depth+1))
			continue
		}
		if _, _, isKey := splitKey(content); isKey {
			// "- key: value": a mapping whose first key is on the dash's
			// line and whose other keys line up under it.
			r.lines[r.i].indent, r.lines[r.i].text = column, content
			out = append(out, r.mapping(column, depth+1))
			continue
		}
		r.i++
		v, ok := scalarValue(content)
		if !ok || !r.count() {
			r.fail()
			break
		}
		out = append(out, v)
	}
	return out
}
