// Package charts holds flinkgate's Helm chart (charts/flinkgate), embedded so
// that Go code (the local control plane of the e2e suite and the demo)
// registers flinkgate's webhooks exactly as the chart defines them.
package charts

// The chart's README is generated from values.yaml and README.md.gotmpl.
//go:generate go run ./chartdoc -chart flinkgate

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// chart is charts/flinkgate; "all:" keeps _helpers.tpl, which embed would
// otherwise skip for its leading underscore.
//
//go:embed all:flinkgate
var chart embed.FS

// Name is the chart's directory name, and the chart's name.
const Name = "flinkgate"

// WriteTo writes the chart into dir/flinkgate for helm, which reads charts
// from disk, and returns that path.
func WriteTo(dir string) (string, error) {
	root := filepath.Join(dir, Name)
	err := fs.WalkDir(chart, Name, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := chart.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		return "", fmt.Errorf("write the chart to %s: %w", dir, err)
	}
	return root, nil
}
