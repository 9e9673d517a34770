// Package metricsref reads the metric names of docs/metrics.md, the
// metrics reference that a test in cmd/flinkgate keeps equal to the code's
// descriptors, for the tests that hold the chart and a running flinkgate
// to it.
package metricsref

import (
	"fmt"
	"os"
	"regexp"
)

// row is a reference table row: the metric's name, and whether it is a
// histogram whose series carry suffixes.
var row = regexp.MustCompile("(?m)^\\| `(flinkgate_[a-z0-9_]+)`( \\(`_bucket`)?")

// Names reads the reference at path; see Parse.
func Names(path string) (map[string]bool, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the metrics reference: %w", err)
	}
	names := Parse(doc)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s lists no metrics", path)
	}
	return names, nil
}

// Parse reads a reference's table rows: every metric family's name, and
// for a histogram also its series' names (_bucket, _sum, _count).
func Parse(doc []byte) map[string]bool {
	names := map[string]bool{}
	for _, m := range row.FindAllSubmatch(doc, -1) {
		names[string(m[1])] = true
		if len(m[2]) > 0 {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[string(m[1])+s] = true
			}
		}
	}
	return names
}
