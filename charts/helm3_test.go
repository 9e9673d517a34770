package charts_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"flinkgate.io/flinkgate/internal/testenv"
)

// chartHelmEnv selects the helm binary of the chart tests: helm (Helm 4,
// the default) or helm3. The chart must work with both, because most
// clusters are still operated with Helm 3.
const chartHelmEnv = "FLINKGATE_CHART_HELM"

func helmTool() string {
	if h := os.Getenv(chartHelmEnv); h != "" {
		return h
	}
	return "helm"
}

// TestEveryChartTestPassesUnderHelm3 runs every other test of this package
// again with Helm 3, in a child `go test` process (the test binary itself),
// so `go test ./charts` covers both Helm versions and a single test can
// still be run alone with either: FLINKGATE_CHART_HELM=helm3 go test -run X.
func TestEveryChartTestPassesUnderHelm3(t *testing.T) {
	if helmTool() != "helm" {
		t.Skip("this is the Helm 3 run already")
	}
	if err := watchChart(); err != nil { // the child's reads are invisible to the test cache
		t.Fatalf("read the chart: %v", err)
	}
	helm3 := testenv.Tool(t, "helm3")
	if _, err := os.Stat(helm3); err != nil {
		t.Fatalf("the pinned Helm 3 is missing (run hack/tools.sh): %v", err)
	}
	args := []string{"-test.count=1", "-test.skip=^TestEveryChartTestPassesUnderHelm3$"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), chartHelmEnv+"=helm3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		t.Fatalf("the chart tests fail under Helm 3 (%s):\n%s", filepath.Base(helm3), out.String())
	}
	if !strings.Contains(out.String(), "PASS") {
		t.Fatalf("the Helm 3 run did not report PASS:\n%s", out.String())
	}
}

// skipNotesUnderHelm3: Helm 3 renders NOTES.txt only in an install, and its
// install asks a cluster for its version even with --dry-run=client. The
// chart e2e checks the notes that a real Helm 3 install prints instead.
func skipNotesUnderHelm3(t *testing.T) {
	t.Helper()
	if helmTool() == "helm3" {
		t.Skip("Helm 3 cannot render NOTES.txt without a cluster; e2e TestChartLifecycleUnderHelm3AndHelm4 checks them")
	}
}

func init() {
	// The chart's helm test hook and NetworkPolicy, beside the kinds of chart_test.go.
	kinds["Pod"] = struct {
		apiVersion string
		typed      func(t *testing.T, o object)
	}{"v1", func(t *testing.T, o object) { decode[corev1.Pod](t, o) }}
	kinds["NetworkPolicy"] = struct {
		apiVersion string
		typed      func(t *testing.T, o object)
	}{"networking.k8s.io/v1", func(t *testing.T, o object) { decode[networkingv1.NetworkPolicy](t, o) }}
}

// sameUnderEveryHelm removes the differences between Helm 3's and Helm 4's
// renders of this chart, which are Helm's and not the chart's: Helm 4 puts a
// blank line before each document separator, and it orders webhook
// configurations before kinds it does not know (cert-manager's), Helm 3
// after. Documents are therefore ordered by template file, keeping Helm's
// order within one file, and the golden files hold one render for both.
func sameUnderEveryHelm(render string) string {
	lines := strings.Split(render, "\n")
	kept := make([]string, 0, len(lines))
	for i, l := range lines {
		if strings.TrimSpace(l) == "" && (i+1 < len(lines) && lines[i+1] == "---" || i == len(lines)-2 && lines[i+1] == "") {
			continue
		}
		kept = append(kept, l)
	}
	docs := strings.Split(strings.Join(kept, "\n"), "---\n")
	source := func(doc string) string {
		if _, after, ok := strings.Cut(doc, "# Source: "); ok {
			return strings.SplitN(after, "\n", 2)[0]
		}
		return ""
	}
	for i, d := range docs {
		if strings.TrimSpace(d) != "" {
			docs[i] = strings.TrimRight(d, "\n") + "\n"
		}
	}
	slices.SortStableFunc(docs, func(a, b string) int { return strings.Compare(source(a), source(b)) })
	return strings.Join(docs, "---\n")
}
