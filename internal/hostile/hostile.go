// Package hostile gives tests hostile inputs: the corpus of ConfigMaps under
// testdata/hostile with the outcome each file's header expects for each
// object, and the documents the corpus and the unit tests are built from
// (the seed's target, YAML alias bombs).
//
// resource/hostile_test.go generates the corpus; the resource, webhook and
// e2e tests run it through parsing, the handler and the API server.
package hostile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// SeedTarget is the seed's example target document (namespace staging, the
// checkpoint and savepoint directories), which most corpus files pair with
// their deployment.
const SeedTarget = `kind: DeploymentTarget
spec:
  kubernetes:
    namespace: staging
  deploymentPatchSet:
  - op: add
    path: /spec/template/spec/flinkConfiguration/state.checkpoints.dir
    value: s3://my-bucket/checkpoints
  - op: add
    path: /spec/template/spec/flinkConfiguration/state.savepoints.dir
    value: s3://my-bucket/savepoints
`

// Object is one ConfigMap of a corpus file: what the tests read of it, and
// what admission must answer.
type Object struct {
	File   string // the file's base name
	Name   string
	Labels map[string]string
	Data   map[string]string
	// Expect is "allowed" or the denial reason, as the file's header says.
	Expect string
}

// manifest is the part of a ConfigMap manifest the corpus uses.
type manifest struct {
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
}

// ReadFile reads one corpus file, its objects in the order they stand
// (targets first).
func ReadFile(path string) ([]Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read corpus file: %w", err)
	}
	expect := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			name, outcome, _ := strings.Cut(rest, " ")
			expect[name] = outcome
		}
	}
	file := filepath.Base(path)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out []Object
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, Object{File: file, Name: m.Metadata.Name, Labels: m.Metadata.Labels, Data: m.Data, Expect: expect[m.Metadata.Name]})
	}
}

// Files lists the corpus files in dir, in name order.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no corpus files in %s", dir)
	}
	return files, err
}

// Read reads every corpus file in dir, in name order.
func Read(dir string) ([]Object, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, f := range files {
		objs, err := ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// AliasBomb is a YAML prefix of nine anchors, each a list of nine aliases
// of the one before: about 1 KB that a naive decoder expands to 9^9 values.
func AliasBomb() string {
	var b strings.Builder
	b.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		fmt.Fprintf(&b, "%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", n, n, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = n
	}
	return b.String()
}

// StringBomb is a YAML prefix of about 10 KB whose aliases repeat a 10 KB
// string 10 000 times: few values, but 100 MB of text once expanded.
func StringBomb() string {
	return "s: &s " + strings.Repeat("x", 10000) + "\na: &a [" + repeatJoin("*s", 100, ",") + "]\nb: [" + repeatJoin("*a", 100, ",") + "]\n"
}

func repeatJoin(s string, n int, sep string) string {
	return strings.TrimSuffix(strings.Repeat(s+sep, n), sep)
}
