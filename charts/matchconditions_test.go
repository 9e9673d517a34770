package charts_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// notReadOnConfigMaps are the flinkgate.io/ keys in the code that the
// changes-what-flinkgate-reads condition need not name among the
// annotations, each with where it lives instead.
var notReadOnConfigMaps = map[string]string{
	"flinkgate.io/kind":                  "a label: every label change is sent",
	"flinkgate.io/deployment-target":     "a label: every label change is sent",
	"flinkgate.io/deployment-namespace":  "a label of FlinkDeployments",
	"flinkgate.io/deployment-name":       "a label of FlinkDeployments",
	"flinkgate.io/deployment-uid":        "a label of FlinkDeployments",
	"flinkgate.io/in-use-protection":     "a finalizer: every finalizer change is sent",
	"flinkgate.io/flink-cluster":         "a finalizer: every finalizer change is sent",
	"flinkgate.io/spec-hash":             "an annotation of FlinkDeployments",
	"flinkgate.io/rotate":                "an annotation of the self-signed TLS Secret",
	"flinkgate.io/tls-bundle-changed-at": "an annotation of the self-signed TLS Secret",
	"flinkgate.io/tls-signer-changed-at": "an annotation of the self-signed TLS Secret",
}

var flinkgateKey = regexp.MustCompile(`"(flinkgate\.io/[A-Za-z0-9._-]+)"`)

// TestTheMatchConditionNamesEveryAnnotationFlinkgateReads keeps the chart's
// list of annotations (flinkgate.annotationsRead) in step with the code: an
// annotation flinkgate reads that the condition does not compare would let
// a change of it past both webhooks.
func TestTheMatchConditionNamesEveryAnnotationFlinkgateReads(t *testing.T) {
	m := mustRender(t, "")
	var expr string
	for _, mc := range mutating(t, m).MatchConditions {
		if mc.Name == "changes-what-flinkgate-reads" {
			expr = mc.Expression
		}
	}
	if expr == "" {
		t.Fatal("the mutating webhook has no matchCondition changes-what-flinkgate-reads")
	}
	// Every flinkgate.io/ key in product code (not tests, not the
	// benchmark tool).
	inCode := map[string]string{}
	for _, dir := range []string{"../internal", "../webhook", "../rbac", "../certs", "../cmd/flinkgate"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range flinkgateKey.FindAllStringSubmatch(string(src), -1) {
				inCode[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(inCode) < len(notReadOnConfigMaps) {
		t.Fatalf("found %d flinkgate.io/ keys in the code, fewer than the %d known not to be annotations of flinkgate's ConfigMaps: is the walk wrong?", len(inCode), len(notReadOnConfigMaps))
	}
	for key, path := range inCode {
		if _, ok := notReadOnConfigMaps[key]; ok {
			continue
		}
		if !strings.Contains(expr, "'"+key+"' in object.metadata.annotations") || !strings.Contains(expr, "'"+key+"' in oldObject.metadata.annotations") {
			t.Errorf("%s names %s, which changes-what-flinkgate-reads does not compare: add it to flinkgate.annotationsRead in templates/_helpers.tpl, or to notReadOnConfigMaps saying where it lives", path, key)
		}
	}
	// And the list names nothing the code has dropped.
	for _, m := range regexp.MustCompile(`'(flinkgate\.io/[A-Za-z0-9._-]+)' in object`).FindAllStringSubmatch(expr, -1) {
		if _, ok := inCode[m[1]]; !ok {
			t.Errorf("changes-what-flinkgate-reads compares %s, which no product code names", m[1])
		}
	}
	if keys := slices.Collect(func(yield func(string) bool) {
		for k := range notReadOnConfigMaps {
			if _, ok := inCode[k]; !ok && !yield(k) {
				return
			}
		}
	}); len(keys) > 0 {
		t.Errorf("notReadOnConfigMaps lists %v, which no product code names", keys)
	}
}
