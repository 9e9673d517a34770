package codec

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	sigyaml "sigs.k8s.io/yaml"
)

// TestPlainScalarsResolveAsKubernetesReadsThem holds resolvePlain, which
// both YAML paths use, to what sigs.k8s.io/yaml (go-yaml v2, kubectl's
// reader) makes of the same plain scalar. Two deviations are the codec's
// on purpose and are not compared: numbers keep every digit (Kubernetes
// rounds integers beyond 64 bits to float64), and a float beyond float64's
// range is still a number (Kubernetes keeps it as text).
func TestPlainScalarsResolveAsKubernetesReadsThem(t *testing.T) {
	cases := []struct {
		name    string
		scalars []string
	}{
		{"null and its spellings are null", []string{"~", "null", "Null", "NULL", "nULL"}},
		{"YAML 1.1 booleans are booleans and other spellings are text", []string{"y", "Y", "n", "N", "yes", "Yes", "YES", "yEs", "no", "on", "On", "ON", "off", "OFF", "true", "True", "TRUE", "tRUE", "false"}},
		{"octal, hexadecimal and binary integers are numbers", []string{"010", "007", "08", "0o17", "0O17", "0x1F", "0X1F", "+0x1F", "-0x1F", "0b101", "0B101", "-0b101", "+0b101", "0x", "0b", "0o", "00", "-00", "-0"}},
		{"underscores between digits are dropped", []string{"1_000", "1__000", "1_", "_1", "0_7", "0x_1F", "1_0.5", "0.1_5", "1e3_0", "+_1", "-1_"}},
		{"floats with a leading dot follow Go's float syntax", []string{".5", "+.5", "-.5", ".5e3", ".5E+3", ".5_0", "._5", ".5_", ".5__0", ".5e_3", "._", "+._5", "-._5", "0._1", ".", "+.", "..5"}},
		{"other floats are numbers", []string{"1.", "1.e3", "1e3", "1E3", "09.5", "0e0", "1e", "1e+", "+", "1.5.5", "1e3e3"}},
		{"timestamps and base 60 numbers are text", []string{"2001-12-14", "2001-12-14t21:59:43.10-05:00", "1:20", "190:20:30.15"}},
		{"the merge key and words are text", []string{"<<", "abc", "-abc", "+abc", ".abc", "0xZ", "1 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.scalars {
				if got, want := ourJSON(t, s), kubernetesJSON(t, s); got != want && !sameNumber(got, want) {
					t.Errorf("%q: resolvePlain reads %s, Kubernetes %s", s, got, want)
				}
			}
		})
	}
}

// ourJSON is resolvePlain's value of s as JSON.
func ourJSON(t *testing.T, s string) string {
	t.Helper()
	v, kind := resolvePlain(s)
	if kind == kindString || kind == kindMerge {
		v = s
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return string(b)
}

// kubernetesJSON is what sigs.k8s.io/yaml makes of s as a value.
func kubernetesJSON(t *testing.T, s string) string {
	t.Helper()
	j, err := sigyaml.YAMLToJSON([]byte("v: " + s + "\n"))
	if err != nil {
		t.Fatalf("%q: sigs.k8s.io/yaml: %v", s, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return string(m["v"])
}

// sameNumber reports whether two JSON texts are numbers of the same value
// (0.50 and 0.5, 1e3 and 1000).
func sameNumber(a, b string) bool {
	if strings.HasPrefix(a, `"`) || strings.HasPrefix(b, `"`) {
		return false
	}
	x, okx := new(big.Float).SetString(a)
	y, oky := new(big.Float).SetString(b)
	return okx && oky && x.Cmp(y) == 0
}

// TestResolvePlainSkipsOnlyWhatItsWordsCannotMatch compares resolvePlain,
// which answers kindString at once for a first byte that starts none of its
// words and no number, with resolveWords on scalars starting with every
// byte.
func TestResolvePlainSkipsOnlyWhatItsWordsCannotMatch(t *testing.T) {
	rests := []string{"", "ull", "ULL", "es", "ES", "n", "N", "ff", "FF", "rue", "RUE", "alse", "ALSE", "<", "inf", "Inf", "nan", "NaN", "5", "0", "x1F", "_1", ".5", "e3", "abc", " x"}
	for c := range 256 {
		for _, rest := range rests {
			s := string([]byte{byte(c)}) + rest
			gv, gk := resolvePlain(s)
			wv, wk := resolveWords(s)
			if gk != wk || gv != wv {
				t.Errorf("resolvePlain(%q) = %v, %v; resolveWords says %v, %v", s, gv, gk, wv, wk)
			}
		}
	}
}
