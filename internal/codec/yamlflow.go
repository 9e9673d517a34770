package codec

import "strings"

// The direct reader's flow collections: a list or mapping written after
// "key: " or "- " ([a, b], {k: v, n: [1]}), or as the whole document,
// closed on its line or on lines after it (flowLines), holding plain and
// one-line quoted scalars and further flow collections. Anything else
// inside (comments, a colon but the ": " after a key, an empty entry, an
// indicator at a scalar's start, "?", which ends a plain scalar for
// go-yaml) makes the reader give up, and go-yaml reads the
// document. It exists because go-yaml's node tree costs about 250 bytes a
// value: reading a 38.6 KB flow list of one-letter items cost 5 MiB.

// flowValue reads s, the rest of a line, as one flow collection at depth;
// a collection left open at the line's end continues on the lines after it
// (see flowLines).
func (r *yamlReader) flowValue(s string, indent, depth int) any {
	s, ok := r.flowLines(s, indent)
	if !ok || strings.IndexByte(s, '#') >= 0 {
		// Comments in and after flow collections are left to go-yaml.
		return r.fail()
	}
	v, rest := r.flow(s, depth)
	if r.failed || rest != "" {
		return r.fail()
	}
	return v
}

// flowLines joins the lines of a flow collection left open at the end of
// s with single spaces, taking the lines after r.i while it is open. Each
// must be indented more than indent (the key's or the dash's column), and
// each line before it must end with a comma or an opening bracket, so no
// scalar runs over a line break (go-yaml would fold it).
func (r *yamlReader) flowLines(s string, indent int) (string, bool) {
	open := openBrackets(s, 0)
	if open == 0 {
		return s, true
	}
	var b strings.Builder
	b.WriteString(s)
	for open > 0 {
		last := s[len(s)-1]
		if r.i >= len(r.lines) || r.lines[r.i].indent <= indent || r.lines[r.i].afterComment || (last != ',' && last != '[' && last != '{') {
			return "", false
		}
		s = r.lines[r.i].text
		r.i++
		b.WriteByte('\n')
		b.WriteString(s)
		open = openBrackets(s, open)
	}
	return b.String(), true
}

// openBrackets is how many brackets are open after s, open before it.
func openBrackets(s string, open int) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{':
			open++
		case ']', '}':
			open--
		}
	}
	return open
}

// flow reads the flow collection s starts with and returns what follows
// it.
func (r *yamlReader) flow(s string, depth int) (any, string) {
	if depth >= MaxDepth || !r.count() {
		return r.fail(), ""
	}
	if s[0] == '[' {
		return r.flowList(strings.TrimLeft(s[1:], " \n"), depth)
	}
	return r.flowMapping(strings.TrimLeft(s[1:], " \n"), depth)
}

// flowList reads a flow list's items, s starting after its "[". The list
// is made as long as its commas say: appending to it as it grows would
// allocate about five times its length.
func (r *yamlReader) flowList(s string, depth int) (any, string) {
	if strings.HasPrefix(s, "]") {
		return []any{}, s[1:]
	}
	out := make([]any, 0, flowItems(s))
	for !r.failed {
		var v any
		v, s = r.flowNode(s, depth+1, ']')
		if r.failed {
			break
		}
		out = append(out, v)
		var end bool
		if s, end = r.flowNext(s, ']'); end {
			return out, s
		}
	}
	return r.fail(), ""
}

// flowMapping reads a flow mapping's entries, s starting after its "{".
// A key without a colon ({a, b: 1}) has a null value, as for go-yaml.
func (r *yamlReader) flowMapping(s string, depth int) (any, string) {
	if strings.HasPrefix(s, "}") {
		return map[string]any{}, s[1:]
	}
	out := make(map[string]any, flowItems(s))
	for !r.failed {
		if s[0] == '"' || s[0] == '\'' {
			// A quoted key: its colon must follow it with a space, as in
			// block style; {"a":1} is left to go-yaml.
			k, after, ok := flowQuoted(s)
			if _, dup := out[k]; !ok || dup || len(s)-len(after) > maxFastKey || !r.count() {
				break
			}
			after = strings.TrimLeft(after, " \n")
			var v any
			switch {
			case strings.HasPrefix(after, ": "):
				s = strings.TrimLeft(after[2:], " \n")
				if s == "" || s[0] == ',' || s[0] == '}' {
					if !r.count() {
						return r.fail(), ""
					}
					break // a null value
				}
				v, s = r.flowNode(s, depth+1, '}')
			case after != "" && (after[0] == ',' || after[0] == '}'):
				if !r.count() {
					return r.fail(), ""
				}
				s = after
			default:
				return r.fail(), ""
			}
			if r.failed {
				break
			}
			out[k] = v
			var last bool
			if s, last = r.flowNext(s, '}'); last {
				return out, s
			}
			continue
		}
		// go-yaml ends a plain scalar in a flow collection at "?" too.
		end := strings.IndexAny(s, ":,[]{}\"'?")
		if end < 0 || end > maxFastKey || !r.count() {
			break // go-yaml refuses a key whose colon is far from its start
		}
		k, ok := plainKey(strings.TrimRight(s[:end], " \n"))
		if _, dup := out[k]; !ok || dup {
			break
		}
		var v any
		switch s[end] {
		case ':':
			if !strings.HasPrefix(s[end+1:], " ") {
				return r.fail(), ""
			}
			s = strings.TrimLeft(s[end+1:], " \n")
			if s == "" || s[0] == ',' || s[0] == '}' {
				if !r.count() {
					return r.fail(), ""
				}
				break // a null value
			}
			v, s = r.flowNode(s, depth+1, '}')
		case ',', '}':
			if !r.count() {
				return r.fail(), ""
			}
			s = s[end:]
		default:
			return r.fail(), ""
		}
		if r.failed {
			break
		}
		out[k] = v
		var last bool
		if s, last = r.flowNext(s, '}'); last {
			return out, s
		}
	}
	return r.fail(), ""
}

// flowNext reads what follows an entry: the closing bracket (end true,
// s after it), or a comma and the next entry, or a comma and the closing
// bracket.
func (r *yamlReader) flowNext(s string, closing byte) (rest string, end bool) {
	s = strings.TrimLeft(s, " \n")
	switch {
	case s == "":
		r.fail()
		return "", true
	case s[0] == closing:
		return s[1:], true
	case s[0] != ',':
		r.fail()
		return "", true
	}
	s = strings.TrimLeft(s[1:], " \n")
	if s != "" && s[0] == closing {
		return s[1:], true
	}
	return s, false
}

// flowNode reads one item or value: a nested collection or a plain
// scalar, which ends at a comma or the closing bracket.
func (r *yamlReader) flowNode(s string, depth int, closing byte) (any, string) {
	if s == "" {
		return r.fail(), ""
	}
	if s[0] == '[' || s[0] == '{' {
		return r.flow(s, depth)
	}
	if s[0] == '"' || s[0] == '\'' {
		v, after, ok := flowQuoted(s)
		rest := strings.TrimLeft(after, " \n")
		if !ok || rest == "" || (rest[0] != ',' && rest[0] != closing) || !r.count() {
			return r.fail(), ""
		}
		return v, rest
	}
	end := strings.IndexAny(s, ",[]{}:\"'?")
	if end < 0 || (s[end] != ',' && s[end] != closing) {
		return r.fail(), ""
	}
	text := strings.TrimRight(s[:end], " \n")
	if text == "" || !r.count() {
		return r.fail(), ""
	}
	v, ok := scalarValue(text)
	if !ok {
		return r.fail(), ""
	}
	return v, s[end:]
}

// flowQuoted reads the quoted scalar s starts with, as quoted does; one
// that runs over a line break (which go-yaml folds) is left to go-yaml.
func flowQuoted(s string) (v, after string, ok bool) {
	v, after, ok = quoted(s)
	if !ok || strings.IndexByte(s[:len(s)-len(after)], '\n') >= 0 {
		return "", "", false
	}
	return v, after, true
}

// flowItems is at most how many items (or entries) the flow collection s
// starts in has: one more than its commas outside nested collections, up
// to its closing bracket. Each list scans only its own text, so nested lists scan a line
// at most MaxDepth times.
func flowItems(s string) int {
	n, depth := 1, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',':
			if depth == 0 {
				n++
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return n
			}
			depth--
		}
	}
	return n
}
