package flinkop

import (
	"fmt"
	"strings"
)

// SplitArgs splits VVP's mainArgs string into job.args, like a POSIX shell
// splits words but without expansions:
//   - blanks (space, tab, newline, carriage return) separate arguments;
//   - "double quotes" group, and inside them a backslash escapes only " and \;
//   - 'single quotes' group, and everything inside them is literal;
//   - outside quotes, a backslash makes the next character literal;
//   - quotes next to other characters join them into one argument
//     (--name="a b" is the one argument --name=a b); "" is an empty argument.
//
// An unterminated quote or a trailing backslash is an error.
func SplitArgs(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("ends with a backslash that escapes nothing")
			}
			i++
			cur.WriteByte(s[i])
			inArg = true
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("has a single quote at byte %d that is never closed", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == '"':
			start := i
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, fmt.Errorf("has a double quote at byte %d that is never closed", start)
			}
			inArg = true
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
