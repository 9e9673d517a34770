// Package codec decodes and encodes resource documents (one YAML or JSON
// mapping) within byte, depth, value-count and time bounds.
//
// A decoded document is a tree of JSON values: map[string]any, []any,
// string, bool, nil and json.Number. Numbers keep the exact text of their
// value, so 2^53 and 2^53+1 stay different through decode, compare and encode.
// jsonvalue owns what is said of such values (KindOf, Pointer), so a
// message names a value or a path the same way wherever it comes from.
package codec

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// The bounds every document is held to; docs/security.md, "Bounds", explains them.
const (
	// MaxDocumentBytes is what a ConfigMap can hold: Kubernetes' ConfigMap
	// validation refuses data that totals more than 1 MiB (core.MaxSecretSize,
	// shared by Secrets and ConfigMaps). No decoder reads and no encoder
	// writes more than this.
	MaxDocumentBytes = 1 << 20
	// MaxDepth is how deeply mappings and lists may nest. A Flink deployment
	// with a full pod template (affinity terms inside the pod spec inside the
	// deployment template) nests about 20 levels; 64 leaves room for any real
	// document while keeping block-style indentation (2 spaces a level) short.
	MaxDepth = 64
	// MaxValues bounds the values (scalars, mappings, lists, and mapping keys)
	// of a document, aliases expanded. Real deployments have hundreds, a
	// large pod template a few thousand; the YAML parser costs about 250
	// bytes and one to several microseconds per value on a loaded machine,
	// so 20 000 keeps one request within a few MiB and a small fraction of
	// a second.
	MaxValues = 20_000
	// MaxExpandedBytes bounds what a YAML document may expand to through
	// aliases: a few aliases of a long string could otherwise make a small
	// ConfigMap gigabytes long.
	MaxExpandedBytes = 4 << 20
	// maxYAMLMarks bounds the values yamlShape finds room for (two for
	// each "," ":" "[" "{" "?", one for each "- "), counted before the
	// document is parsed, so that the parser never sees far more values than
	// MaxValues. The count is an upper bound; indicators inside strings make
	// it overcount, hence the slack.
	maxYAMLMarks = 2 * MaxValues
	// maxYAMLOpenBrackets refuses deeply nested flow collections before the
	// parser spends time on them. Brackets inside strings count too, so it
	// is four times MaxDepth: no real document has that many open at once,
	// and the exact depth is checked after parsing.
	maxYAMLOpenBrackets = 4 * MaxDepth
	// ctxEvery is how many values or bytes pass between context checks.
	ctxEvery = 1024
)

// Format is how a document is written; a rewritten document keeps it.
type Format int

const (
	YAML Format = iota
	JSON
)

// Document is a decoded document and how it was written.
type Document struct {
	Tree   map[string]any
	Format Format
	// Indented records whether a JSON document was pretty-printed (its
	// opening brace ends its line), so a rewrite keeps its look.
	Indented bool
}

// Error is a document that is not one valid mapping. Its message says what
// is wrong and where (a JSON pointer and a line).
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// TooLargeError is a document, or a result, beyond one of the bounds.
type TooLargeError struct {
	// What names the bound: "bytes", "nesting depth", "values", ...
	What  string
	Limit int
	// Msg says what exceeded it.
	Msg string
}

func (e *TooLargeError) Error() string { return e.Msg }

func tooLarge(what string, limit int, format string, args ...any) error {
	return &TooLargeError{What: what, Limit: limit, Msg: fmt.Sprintf(format, args...)}
}

// Decode reads exactly one YAML or JSON document holding a mapping. A
// document whose first non-space byte is "{" and that is valid JSON is JSON;
// anything else is YAML, read with YAML 1.1 scalars as Kubernetes reads YAML
// (yes/no/on/off are booleans, 010 is octal). It refuses duplicate keys,
// more than one document, and documents beyond the bounds, and stops when
// ctx ends.
func Decode(ctx context.Context, raw string) (*Document, error) {
	if len(raw) > MaxDocumentBytes {
		return nil, tooLarge("bytes", MaxDocumentBytes, "is %d bytes, more than a ConfigMap can hold (%d)", len(raw), MaxDocumentBytes)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("decode document: %w", err)
	}
	if !utf8.ValidString(raw) {
		return nil, errorf("is not valid UTF-8")
	}
	trimmed := strings.TrimSpace(raw)
	if trimmed == "" {
		return nil, errorf("is empty")
	}
	if trimmed[0] == '{' {
		tree, err := decodeJSON(ctx, trimmed)
		var syn *jsonSyntaxError
		switch {
		case err == nil:
			return &Document{Tree: tree, Format: JSON, Indented: indented(trimmed)}, nil
		case !asSyntax(err, &syn):
			return nil, err
		}
		// Not JSON: YAML flow style ({kind: Deployment, ...}) also starts with {.
	}
	tree, err := decodeYAML(ctx, raw)
	if err != nil {
		return nil, err
	}
	return &Document{Tree: tree, Format: YAML}, nil
}

// indented reports whether a JSON document is pretty-printed: its opening
// brace ends its line, as every JSON pretty-printer writes it. A compact
// document with a stray newline stays compact.
func indented(trimmed string) bool {
	rest := strings.TrimLeft(trimmed[1:], " \t")
	return strings.HasPrefix(rest, "\n") || strings.HasPrefix(rest, "\r\n")
}

// Encode writes tree in format, stopping with a *TooLargeError as soon as
// the output would exceed MaxDocumentBytes, and with ctx's error when ctx
// ends. Keys are sorted. trailingNewline ends a JSON document with a newline
// (YAML always ends with one).
func Encode(ctx context.Context, tree any, format Format, indent, trailingNewline bool) (string, error) {
	return EncodeSized(ctx, tree, format, indent, trailingNewline, 0)
}

// EncodeSized is Encode for output expected to be about size bytes (say,
// a little more than the document the tree was read from): a YAML document
// of that size is written into one allocation.
func EncodeSized(ctx context.Context, tree any, format Format, indent, trailingNewline bool, size int) (string, error) {
	m, isMap := tree.(map[string]any)
	yamlMap := isMap && format == YAML
	if yamlMap && ctx.Err() == nil {
		// The direct writer holds the tree to checkShape's bounds as it
		// writes it, and leaves a tree beyond them to checkShape below.
		if out, ok := fastYAMLSized(m, MaxDocumentBytes, size); ok {
			return out, nil
		}
	}
	if err := checkShape(ctx, tree); err != nil {
		return "", err
	}
	if yamlMap {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("encode document: %w", err)
		}
	}
	w := &cappedWriter{ctx: ctx, limit: MaxDocumentBytes}
	var err error
	if format == YAML {
		err = encodeYAML(w, tree)
	} else {
		err = encodeJSON(w, tree, indent)
		if err == nil && trailingNewline {
			_, err = w.Write([]byte{'\n'})
		}
	}
	if w.err != nil {
		return "", w.err
	}
	if err != nil {
		return "", fmt.Errorf("encode document: %w", err)
	}
	return string(w.buf), nil
}

// checkShape refuses a tree deeper than MaxDepth or with more than
// MaxValues values before anything is written: a patch set can nest or
// multiply what the decoder let in.
func checkShape(ctx context.Context, tree any) error {
	n := 0
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		n++
		if n > MaxValues {
			return tooLarge("values", MaxValues, "would have more than %d values", MaxValues)
		}
		if n%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("encode document: %w", err)
			}
		}
		switch x := v.(type) {
		case map[string]any:
			if depth >= MaxDepth {
				return tooLarge("nesting depth", MaxDepth, "would nest deeper than %d levels", MaxDepth)
			}
			for _, e := range x {
				n++
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		case []any:
			if depth >= MaxDepth {
				return tooLarge("nesting depth", MaxDepth, "would nest deeper than %d levels", MaxDepth)
			}
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(tree, 0)
}

// cappedWriter collects output up to limit bytes; past it, or once ctx
// ends, every write fails, so encoders stop at the cap instead of building
// output nobody can store.
type cappedWriter struct {
	ctx     context.Context
	buf     []byte
	limit   int
	checked int
	err     error
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if !w.room(len(p)) {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *cappedWriter) WriteString(s string) (int, error) {
	if !w.room(len(s)) {
		return 0, w.err
	}
	w.buf = append(w.buf, s...)
	return len(s), nil
}

func (w *cappedWriter) WriteByte(c byte) error {
	if !w.room(1) {
		return w.err
	}
	w.buf = append(w.buf, c)
	return nil
}

// room reports whether n more bytes may be written, recording why not.
func (w *cappedWriter) room(n int) bool {
	if w.err != nil {
		return false
	}
	if len(w.buf)+n > w.limit {
		w.err = tooLarge("bytes", w.limit, "would be larger than %d bytes, more than a ConfigMap can hold", w.limit)
		return false
	}
	if len(w.buf)-w.checked >= ctxEvery*64 {
		w.checked = len(w.buf)
		if err := w.ctx.Err(); err != nil {
			w.err = fmt.Errorf("encode document: %w", err)
			return false
		}
	}
	return true
}

// pointer renders path tokens as an RFC 6901 JSON pointer for messages.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return "the top level"
	}
	return jsonvalue.Pointer(tokens)
}
