package codec

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// scalarKind is what a plain (unquoted) scalar resolves to.
type scalarKind int

// mayResolve marks the first bytes of every plain scalar resolvePlain
// reads as something other than a string: the words of its switch (null,
// booleans, "<<", ~, special floats) and numbers.
var mayResolve = func() (t [256]bool) {
	for _, c := range []byte("~nNyYoOtTfF<.+-0123456789") {
		t[c] = true
	}
	return t
}()

const (
	kindString scalarKind = iota
	kindNull
	kindBool
	kindNumber
	kindMerge
	kindSpecialFloat
)

// yaml11Float is YAML 1.1's float syntax as Kubernetes' reader applies it
// (after underscores are removed).
var yaml11Float = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvePlain is what an unquoted scalar means: YAML 1.1 as go-yaml v2
// (and so kubectl and sigs.k8s.io/yaml) reads it, except that numbers keep
// every digit as a json.Number and a float too large for float64 is still a
// number. For kindString, kindMerge and kindSpecialFloat the value is s
// itself and v is nil: boxing s into an interface allocates, and most
// callers only need the kind.
func resolvePlain(s string) (v any, kind scalarKind) {
	if s != "" && !mayResolve[s[0]] {
		return nil, kindString // most keys and values, without the switch
	}
	return resolveWords(s)
}

// resolveWords is resolvePlain for every s.
func resolveWords(s string) (v any, kind scalarKind) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil, kindNull
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE":
		return true, kindBool
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
		return false, kindBool
	case "<<":
		return nil, kindMerge
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
		return nil, kindSpecialFloat
	}
	if c := s[0]; c != '+' && c != '-' && c != '.' && (c < '0' || c > '9') {
		return nil, kindString
	}
	if s[0] == '.' {
		// go-yaml v2 reads these with strconv.ParseFloat on the text as
		// written, where an underscore must sit between digits: "._5" is
		// text to Kubernetes. Out of range is still a number here.
		if _, err := strconv.ParseFloat(s, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, kindString
		}
	}
	plain := strings.ReplaceAll(s, "_", "")
	if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return json.Number(strconv.FormatInt(i, 10)), kindNumber
	}
	if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return json.Number(strconv.FormatUint(u, 10)), kindNumber
	}
	if yaml11Float.MatchString(plain) {
		return json.Number(canonicalNumber(plain)), kindNumber
	}
	return nil, kindString
}

// canonicalNumber rewrites a YAML float literal as a JSON number with the
// same value: no "+" sign, no leading zeros, digits on both sides of a dot.
func canonicalNumber(s string) string {
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i:]
	}
	intPart, frac, hasDot := strings.Cut(mant, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if hasDot && frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	b.WriteString(exp)
	return b.String()
}
