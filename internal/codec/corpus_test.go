package codec

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/benchdata"
)

// TestCorpusTakesTheFastPaths holds every YAML document of the benchmark
// corpus (deployments as users write them) to the direct reader and
// writer: each must read as go-yaml reads it, and the tree, with the
// benchmark target's patch applied, must be written as the emitter writes
// it, without leaving either to go-yaml. slowReader and slowWriter list
// the documents that may still take go-yaml, with why.
func TestCorpusTakesTheFastPaths(t *testing.T) {
	slowReader := map[string]string{}
	slowWriter := map[string]string{}
	for _, d := range benchdata.Corpus() {
		t.Run(d.Name, func(t *testing.T) {
			if strings.HasSuffix(d.Name, ".json") {
				doc, err := Decode(context.Background(), d.Text)
				if err != nil || doc.Format != JSON {
					t.Fatalf("a JSON document of the corpus does not decode as JSON: %v", err)
				}
				return
			}
			want, err := parsed(d.Text)
			if err != nil {
				t.Fatalf("go-yaml refuses the corpus document: %v", err)
			}
			got, ok := fastReadYAML(context.Background(), d.Text)
			switch {
			case !ok && slowReader[d.Name] == "":
				t.Errorf("the direct reader leaves %s to go-yaml", d.Name)
			case ok && !reflect.DeepEqual(got, want):
				t.Fatalf("the direct reader read %s as %#v\ngo-yaml as %#v", d.Name, got, want)
			}
			tree := want
			spec := tree["spec"].(map[string]any)
			tpl, _ := spec["template"].(map[string]any)
			tspec, _ := tpl["spec"].(map[string]any)
			conf, _ := tspec["flinkConfiguration"].(map[string]any)
			for _, k := range []string{"bench.key0", "bench.key9"} {
				conf[k] = "value-" + k[len(k)-1:]
			}
			out, ok := fastYAML(tree, MaxDocumentBytes)
			switch {
			case !ok && slowWriter[d.Name] == "":
				t.Errorf("the direct writer leaves %s to the emitter", d.Name)
			case ok && out != emitted(t, tree):
				t.Fatalf("the direct writer wrote %s as\n%s\nthe emitter as\n%s", d.Name, out, emitted(t, tree))
			}
		})
	}
}

// BenchmarkCorpus reads and writes back each document of the corpus as a
// deployment create does (Decode, then EncodeSized), and, for comparison,
// each YAML document through go-yaml alone (its parser and the converter,
// then the emitter): the gap is what leaving the direct paths costs.
func BenchmarkCorpus(b *testing.B) {
	ctx := context.Background()
	for _, d := range benchdata.Corpus() {
		b.Run(d.Name+"/direct", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				doc, err := Decode(ctx, d.Text)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := EncodeSized(ctx, doc.Tree, doc.Format, false, false, len(d.Text)); err != nil {
					b.Fatal(err)
				}
			}
		})
		if strings.HasSuffix(d.Name, ".json") {
			continue // JSON never takes go-yaml
		}
		b.Run(d.Name+"/go-yaml", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tree, err := parsed(d.Text)
				if err != nil {
					b.Fatal(err)
				}
				w := &cappedWriter{ctx: ctx, limit: MaxDocumentBytes}
				if err := encodeYAML(w, tree); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
