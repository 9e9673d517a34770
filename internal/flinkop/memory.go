package flinkop

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// flinkMemoryUnits are the units of Flink's MemorySize syntax, which VVP
// uses for resources.*.memory ("1g", "1024m"): all of them binary, matched
// without regard to case. Each maps to the Kubernetes binary suffix of the
// same size, so "1g" and "1Gi" are exactly the same number of bytes; a
// Kubernetes decimal or milli suffix would not be ("1024m" is 1.024 bytes
// to Kubernetes).
var flinkMemoryUnits = map[string]string{
	"": "", "b": "", "bytes": "",
	"k": "Ki", "kb": "Ki", "kibibytes": "Ki",
	"m": "Mi", "mb": "Mi", "mebibytes": "Mi",
	"g": "Gi", "gb": "Gi", "gibibytes": "Gi",
	"t": "Ti", "tb": "Ti", "tebibytes": "Ti",
}

// kubernetesBinary are the Kubernetes suffixes taken as written: they mean
// the same in both worlds.
var kubernetesBinary = []string{"Ki", "Mi", "Gi", "Ti"}

// maxMemoryDigits bounds the number part before it is parsed; the size in
// bytes must also fit Flink's long (sized).
const maxMemoryDigits = 15

// unitShift is each Kubernetes binary suffix's power of two.
var unitShift = map[string]uint{"": 0, "Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40}

// sized is n with suffix k, or an error when that many bytes overflow the
// long Flink counts a memory size in.
func sized(s string, n uint64, k string) (string, error) {
	if n > math.MaxInt64>>unitShift[k] {
		return "", fmt.Errorf("%q is too large: Flink counts a memory size in bytes in a 64-bit number", s)
	}
	return strconv.FormatUint(n, 10) + k, nil
}

// MemoryQuantity converts a VVP memory size, Flink's MemorySize syntax (a
// whole number, optional blanks, an optional binary unit: "1g", "1024m",
// "512 mb", "2048") or a Kubernetes binary quantity ("1Gi"), to the
// Kubernetes quantity of exactly the same number of bytes: "1Gi", "1024Mi",
// "512Mi", "2048". A JSON number is a count of bytes.
func MemoryQuantity(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = x.String()
	default:
		return "", fmt.Errorf("must be a size such as \"1g\" or \"1024m\", got %s", kindOf(v))
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, unit := s[:i], strings.TrimSpace(s[i:])
	if digits == "" {
		return "", fmt.Errorf("%q does not start with a whole number; write a size such as \"1g\" or \"1024m\"", s)
	}
	if len(digits) > maxMemoryDigits {
		return "", fmt.Errorf("%q is too large", s)
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return "", fmt.Errorf("%q is not a positive size", s)
	}
	for _, k := range kubernetesBinary {
		if unit == k {
			return sized(s, n, k)
		}
	}
	k, ok := flinkMemoryUnits[strings.ToLower(unit)]
	if !ok {
		return "", fmt.Errorf("%q has the unit %q, which is not one of Flink's memory units (k, m, g, t, optionally followed by b; all binary) nor Ki, Mi, Gi, Ti", s, unit)
	}
	return sized(s, n, k)
}
