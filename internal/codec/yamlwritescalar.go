package codec

// The direct YAML writer's scalars: strings, numbers and booleans, written
// as go-yaml v3's emitter writes them (yamlwrite.go writes the structure).

import (
	"encoding/json"
	"strings"
)

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
