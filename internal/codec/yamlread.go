package codec

import (
	"context"
	"encoding/json"
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

// blockScalar reads the block scalar whose header (| |- > >-) ends the
// line before r.i, the value of a key at column indent, from the document's
// raw lines (split dropped blank and comment lines, which are its text
// here). Indentation indicators, "+" chomping, comments after the header,
// blank lines before the first line, lines more indented than the first
// in a folded scalar, and trailing spaces in a folded scalar are left to
// go-yaml.
func (r *yamlReader) blockScalar(header string, indent int) (string, bool) {
	literal := header[0] == '|'
	strip := false
	switch header[1:] {
	case "":
	case "-":
		strip = true
	default:
		return "", false
	}
	start := r.lines[r.i-1].next
	rest := r.raw[start:]
	var lines []string
	content := -1
	// broken says the last line of text ended in a line break, which clip
	// chomping keeps.
	broken := false
	end := start
	for rest != "" {
		line := rest
		j := strings.IndexByte(rest, '\n')
		if j >= 0 {
			line = rest[:j]
		}
		n := 0
		for n < len(line) && line[n] == ' ' {
			n++
		}
		if n == len(line) {
			// A blank line: text unless the scalar ends before a
			// less indented line.
			if content < 0 || n > content {
				return "", false
			}
			lines = append(lines, "")
		} else {
			if content < 0 {
				if n <= indent {
					return "", false // an empty scalar
				}
				content = n
			}
			if n < content {
				break
			}
			text := line[content:]
			if !literal && (text[0] == ' ' || strings.HasSuffix(text, " ")) {
				return "", false
			}
			lines = append(lines, text)
			broken = j >= 0
		}
		if j < 0 {
			rest, end = "", len(r.raw)
			break
		}
		rest, end = rest[j+1:], end+j+1
	}
	if content < 0 {
		return "", false
	}
	// Trailing blank lines are chomped: clip keeps one line break,
	// strip none.
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// The lines split kept that lie inside the scalar are its text.
	for r.i < len(r.lines) && r.lines[r.i].next <= end {
		r.i++
	}
	var b strings.Builder
	for i, l := range lines {
		switch {
		case i == 0:
		case literal:
			b.WriteByte('\n')
		case l == "":
			b.WriteByte('\n')
			continue
		case lines[i-1] == "":
			// Blank lines between two lines became line breaks.
		default:
			b.WriteByte(' ')
		}
		b.WriteString(l)
	}
	if !strip && broken {
		b.WriteByte('\n')
	}
	return b.String(), true
}

// splitKey splits "key: value" or "key:" at the ": " (or final ":") where
// go-yaml's key ends, and turns the key into the string yamlConverter.key
// makes of it. A key may be plain or quoted on one line.
func splitKey(text string) (key, rest string, ok bool) {
	if text == "" {
		return "", "", false
	}
	if text[0] == '"' || text[0] == '\'' {
		k, after, ok := quoted(text)
		if !ok || len(text)-len(after) > maxFastKey {
			return "", "", false
		}
		after = strings.TrimLeft(after, " ")
		switch {
		case after == ":":
			return k, "", true
		case strings.HasPrefix(after, ": "):
			return k, strings.TrimLeft(after[2:], " "), true
		}
		return "", "", false
	}
	j := strings.Index(text, ": ")
	switch {
	case j >= 0:
		rest = strings.TrimLeft(text[j+2:], " ")
	case text[len(text)-1] == ':':
		j = len(text) - 1
	default:
		return "", "", false
	}
	if j > maxFastKey {
		// go-yaml refuses a key whose colon is more than 1024 characters
		// from its start, spaces before the colon included.
		return "", "", false
	}
	ks := strings.TrimRight(text[:j], " ")
	if strings.Contains(ks, " #") {
		return "", "", false // a comment starts inside it
	}
	key, ok = plainKey(ks)
	return key, rest, ok
}

// quoted reads the quoted scalar s starts with, on one line, and returns
// its value and what follows the closing quote. Escapes are refused by
// split; in single quotes, ” is a quote.
func quoted(s string) (v, after string, ok bool) {
	q := s[0]
	if q == '"' {
		j := strings.IndexByte(s[1:], '"')
		if j < 0 {
			return "", "", false
		}
		return s[1 : 1+j], s[2+j:], true
	}
	var b []byte
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			if b == nil {
				b = make([]byte, 0, len(s))
				b = append(b, s[1:i+1]...)
			} else {
				b = append(b, '\'')
			}
			// Copy up to the next quote on the next turns.
			j := strings.IndexByte(s[i+2:], '\'')
			if j < 0 {
				return "", "", false
			}
			b = append(b, s[i+2:i+2+j]...)
			i += 1 + j
			continue
		}
		if b == nil {
			return s[1:i], s[i+1:], true
		}
		return string(b), s[i+1:], true
	}
	return "", "", false
}

// plainStart reports whether go-yaml reads s as a plain scalar that starts
// where s starts; indicators are left to go-yaml.
func plainStart(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '-':
		return len(s) > 1 && s[1] != ' '
	case '?', ':', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return true
}

// plainKey turns a plain key into the string yamlConverter.key makes of it.
func plainKey(s string) (string, bool) {
	if len(s) > maxFastKey || !plainStart(s) || strings.HasSuffix(s, ":") {
		return "", false
	}
	v, kind := resolvePlain(s)
	switch kind {
	case kindString:
		return s, true
	case kindNull:
		return "null", true
	case kindBool:
		if v.(bool) {
			return "true", true
		}
		return "false", true
	case kindNumber:
		return string(v.(json.Number)), true
	}
	return "", false // merge keys and special floats
}

// scalarValue reads a value written after "key: " or "- " on one line,
// with a comment after it if any.
func scalarValue(s string) (any, bool) {
	if s[0] == '"' || s[0] == '\'' {
		v, after, ok := quoted(s)
		if !ok {
			return nil, false
		}
		// Only a comment may follow, after a space.
		if after != "" && (after[0] != ' ' || !strings.HasPrefix(strings.TrimLeft(after, " "), "#")) {
			return nil, false
		}
		return v, true
	}
	if j := strings.Index(s, " #"); j >= 0 {
		s = strings.TrimRight(s[:j], " ")
	}
	if !plainStart(s) || strings.HasSuffix(s, ":") || strings.Contains(s, ": ") {
		return nil, false
	}
	v, kind := resolvePlain(s)
	switch kind {
	case kindString, kindMerge:
		return s, true
	case kindSpecialFloat:
		return nil, false
	}
	return v, true
}
