package benchdata

import (
	"embed"
	"path"
	"sort"
)

// The corpus is deployments as users write them, from Ververica
// Platform's documented Deployment spec (every field group, in block and
// flow style, JSON, with comments, quoted and plain scalars, and block
// scalars), each naming the target "staging". It is not shaped by what
// any fast path accepts: issue 24 found a realistic deployment 4x slower
// than the benchmark's minimal one.
//
//go:embed corpus/*.yaml corpus/*.json
var corpus embed.FS

// CorpusDocument is one document of the corpus.
type CorpusDocument struct {
	Name string // the file name without its directory, e.g. "multiline.yaml"
	Text string
}

// Corpus returns the minimal DeploymentDocument first, then the corpus
// in file name order.
func Corpus() []CorpusDocument {
	entries, err := corpus.ReadDir("corpus")
	if err != nil {
		panic(err) // embedded at build time
	}
	out := []CorpusDocument{{Name: "minimal.yaml", Text: DeploymentDocument}}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := corpus.ReadFile(path.Join("corpus", n))
		if err != nil {
			panic(err)
		}
		out = append(out, CorpusDocument{Name: n, Text: string(b)})
	}
	return out
}
