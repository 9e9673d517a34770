package codec

// The direct YAML reader's scalars: block scalars, keys, quoted and plain
// scalars (yamlread.go reads the document's structure).

import (
	"encoding/json"
	"strings"
)

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
