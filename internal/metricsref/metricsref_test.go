package metricsref

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNames(t *testing.T) {
	const doc = "| metric | type |\n| --- | --- |\n| `flinkgate_a_total` | counter |\n| `flinkgate_b_seconds` (`_bucket`, `_sum`, `_count`) | histogram |\nflinkgate_c in prose\n"
	cases := []struct {
		name, metric string
		want         bool
	}{
		{"A counter's row names it.", "flinkgate_a_total", true},
		{"A histogram's row names the family.", "flinkgate_b_seconds", true},
		{"A histogram's row names its bucket series.", "flinkgate_b_seconds_bucket", true},
		{"A histogram's row names its count series.", "flinkgate_b_seconds_count", true},
		{"A counter's row names no series.", "flinkgate_a_total_count", false},
		{"A name outside a table row is not a metric.", "flinkgate_c", false},
	}
	path := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	names, err := Names(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if names[tc.metric] != tc.want {
				t.Errorf("names[%s] = %v, want %v", tc.metric, names[tc.metric], tc.want)
			}
		})
	}
}

func TestAReferenceWithoutMetricsIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.md")
	if err := os.WriteFile(path, []byte("# Metrics\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Names(path); err == nil {
		t.Error("a reference that lists no metrics was read without an error")
	}
}
