package charts_test

import (
	"os"
	"path/filepath"
	"testing"

	"flinkgate.io/flinkgate/charts"
)

// The embedded chart must be the chart on disk, file for file, or the e2e
// suite would register webhooks from a partial chart.
func TestWriteToWritesEveryFileOfTheChart(t *testing.T) {
	dir, err := charts.WriteTo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	err = filepath.WalkDir(chartDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want = append(want, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("the chart directory has no files")
	}
	for _, path := range want {
		rel, _ := filepath.Rel(chartDir, path)
		onDisk, _ := os.ReadFile(path)
		written, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Errorf("%s is not written: %v", rel, err)
			continue
		}
		if string(written) != string(onDisk) {
			t.Errorf("%s differs from the chart on disk", rel)
		}
	}
}
