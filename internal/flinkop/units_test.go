package flinkop_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/flinkop"
)

func TestMemoryQuantity(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want string
		err  string
	}{
		{name: "gigabytes in Flink's short unit become the same number of gibibytes", in: "1g", want: "1Gi"},
		{name: "megabytes in upper case become mebibytes", in: "1024M", want: "1024Mi"},
		{name: "kilobytes written kb become kibibytes", in: "512kb", want: "512Ki"},
		{name: "terabytes become tebibytes", in: "1t", want: "1Ti"},
		{name: "a unit spelt out becomes its suffix", in: "2 gibibytes", want: "2Gi"},
		{name: "blanks between the number and the unit are allowed", in: " 1536 m ", want: "1536Mi"},
		{name: "a number without a unit is bytes", in: "2048", want: "2048"},
		{name: "the unit b is bytes", in: "2048b", want: "2048"},
		{name: "a JSON number is bytes", in: json.Number("1073741824"), want: "1073741824"},
		{name: "a Kubernetes binary quantity is kept", in: "3Gi", want: "3Gi"},
		{name: "a fraction is refused: Flink's sizes are whole numbers", in: "1.5g", err: "not one of Flink's memory units"},
		{name: "an upper-case G is Flink's binary gigabyte, not Kubernetes' decimal one", in: "1G", want: "1Gi"},
		{name: "an exbibyte quantity is refused: neither side of the conversion has it", in: "1Ei", err: "not one of Flink's memory units"},
		{name: "zero is refused", in: "0m", err: "not a positive size"},
		{name: "a size without a number is refused", in: "g", err: "does not start with a whole number"},
		{name: "a number with more than 15 digits is refused", in: "1234567890123456", err: "too large"},
		{name: "the largest number of tebibytes a count of bytes in an int64 holds is kept", in: "8388607t", want: "8388607Ti"},
		{name: "one tebibyte more than a count of bytes in an int64 holds is refused: Flink counts bytes in a long", in: "8388608t", err: "too large"},
		{name: "a Kubernetes quantity past an int64 of bytes is refused too", in: "999999999999999Ti", err: "too large"},
		{name: "a boolean is refused", in: true, err: "got a boolean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flinkop.MemoryQuantity(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("MemoryQuantity(%v) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("MemoryQuantity(%v) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{name: "an empty string is no arguments", in: "", want: nil},
		{name: "blanks of every kind separate arguments and runs of them count once", in: " a \t b\n\nc\r\n", want: []string{"a", "b", "c"}},
		{name: "double quotes keep blanks", in: `--name "top speed"`, want: []string{"--name", "top speed"}},
		{name: "a backslash inside double quotes escapes a double quote and a backslash only", in: `"a\"b\\c\d"`, want: []string{`a"b\c\d`}},
		{name: "single quotes keep everything literally", in: `'a "b" \c'`, want: []string{`a "b" \c`}},
		{name: "quotes next to other characters join them into one argument", in: `--sql="SELECT 1"x`, want: []string{"--sql=SELECT 1x"}},
		{name: "empty quotes are an empty argument", in: `a "" b`, want: []string{"a", "", "b"}},
		{name: "a backslash outside quotes makes a blank literal", in: `a\ b`, want: []string{"a b"}},
		{name: "an unclosed double quote is an error", in: `a "b`, err: "double quote at byte 2 that is never closed"},
		{name: "an unclosed single quote is an error", in: `'b`, err: "single quote at byte 0 that is never closed"},
		{name: "a trailing backslash is an error", in: `a\`, err: "ends with a backslash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := flinkop.SplitArgs(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("SplitArgs(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("SplitArgs(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
