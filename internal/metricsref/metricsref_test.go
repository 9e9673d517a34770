package metricsref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// reference is a metrics reference in the layout docs/metrics.md has.
const reference = "| metric | type |\n| --- | --- |\n" +
	"| `flinkgate_a_total` | counter |\n" +
	"| `flinkgate_b_seconds` (`_bucket`, `_sum`, `_count`) | histogram |\n" +
	"flinkgate_c in prose\n"

func TestParse(t *testing.T) {
	names := Parse([]byte(reference))
	for _, tc := range []struct {
		name, metric string
		want         bool
	}{
		{"A counter's row names it.", "flinkgate_a_total", true},
		{"A histogram's row names the family.", "flinkgate_b_seconds", true},
		{"A histogram's row names its bucket series.", "flinkgate_b_seconds_bucket", true},
		{"A histogram's row names its count series.", "flinkgate_b_seconds_count", true},
		{"A counter's row names no series.", "flinkgate_a_total_count", false},
		{"A name outside a table row is not a metric.", "flinkgate_c", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if names[tc.metric] != tc.want {
				t.Errorf("names[%s] = %v, want %v", tc.metric, names[tc.metric], tc.want)
			}
		})
	}
}

func TestNamesRefusesWhatIsNotAReference(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(empty, []byte("# Metrics\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"A path that cannot be read is an error.", filepath.Dir(empty), "read the metrics reference"},
		{"A reference that lists no metrics is an error.", empty, "lists no metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Names(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Names(%s) = %v, want an error saying %q", tc.path, err, tc.want)
			}
		})
	}
}
