//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"flinkgate.io/flinkgate/charts/queries"
	"flinkgate.io/flinkgate/internal/metricsref"
	"flinkgate.io/flinkgate/internal/testenv"
)

// The tools for the people who run flinkgate, against the shared control
// plane: the chart's dashboard and alerts, the metrics reference, and
// flinkgate check with --kubeconfig.

func TestTheChartsDashboardAndAlertsReadOnlyMetricsFlinkgateExports(t *testing.T) {
	s := admissionSuite(t)
	used := chartMetrics(t, s)
	// An allowed and a denied admission of each kind, so every labelled
	// series exists whatever ran before.
	target, job := name("observed"), name("observed-job")
	s.apply(t, s.targetManifest(target, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n"))
	s.apply(t, s.deploymentManifest(job, "kind: Deployment\nspec:\n  deploymentTargetName: "+target+"\n"))
	s.denied(t, s.deploymentManifest(name("observed-orphan"), "kind: Deployment\nspec:\n  deploymentTargetName: nowhere\n"), "does not exist", "apply", "-f", "-")

	// The state gauges follow the informers, so poll until they catch up.
	var missing []string
	waitUntil(t, waitFor, "every metric the chart reads is exported", func() (bool, string) {
		exported := scrape(t, s)
		missing = missing[:0]
		for _, n := range used {
			if !exported[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0, fmt.Sprintf("the chart's dashboard or alerts read %v, which a running flinkgate does not export", missing)
	})
}

func TestEveryMetricFlinkgateExportsIsInTheMetricsReference(t *testing.T) {
	s := admissionSuite(t)
	documented, err := metricsref.Names(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	families := scrapeFamilies(t, s)
	if len(families) == 0 {
		t.Fatal("the scrape holds no metrics")
	}
	for name := range families {
		if strings.HasPrefix(name, "flinkgate_") && !documented[name] {
			t.Errorf("flinkgate exports %s, which docs/metrics.md lacks; add its collector to registerFlinkgateMetrics in cmd/flinkgate and run go test ./cmd/flinkgate -run TestMetricsReference -update", name)
		}
	}
}

func TestCheckWithKubeconfigGivesTheDocumentTheAPIServerStores(t *testing.T) {
	s := admissionSuite(t)
	target, job := name("checked"), name("checked-job")
	s.apply(t, s.targetManifest(target, "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/state.backend, value: rocksdb}\n"))
	dep := s.deploymentManifest(job, "kind: Deployment\nspec:\n  deploymentTargetName: "+target+"\n  template:\n    spec:\n      parallelism: 3\n")
	file := filepath.Join(t.TempDir(), job+".yaml")
	if err := os.WriteFile(file, []byte(dep), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.binary, "check", "--kubeconfig", s.c.Kubeconfig, "--platform-namespace", platformNS, "-o", "document", file).Output()
	if err != nil {
		t.Fatalf("flinkgate check: %v\n%s", err, out)
	}
	stored, _ := s.mustKubectl(t, dep, "create", "--dry-run=server", "-o", "json", "-f", "-")
	var cm configMap
	if err := json.Unmarshal([]byte(stored), &cm); err != nil {
		t.Fatal(err)
	}
	if want := cm.Data["resource.yaml"]; string(out) != want {
		t.Errorf("flinkgate check printed\n%s\nthe API server stores\n%s", out, want)
	}
	if !strings.Contains(string(out), "state.backend: rocksdb") {
		t.Errorf("the cluster's target was not applied:\n%s", out)
	}
}

// checkReport is the part of flinkgate check's -o json report these tests read.
type checkReport struct {
	ExistingObjectsConsidered bool `json:"existingObjectsConsidered"`
	Results                   []struct {
		Source    string   `json:"source"`
		Operation string   `json:"operation"`
		Allowed   bool     `json:"allowed"`
		Reason    string   `json:"reason"`
		Message   string   `json:"message"`
		Warnings  []string `json:"warnings"`
		Document  string   `json:"document"`
	} `json:"results"`
}

// With a cluster, check decides on objects that already exist as the
// webhooks decide on `kubectl apply` of them: an UPDATE of the stored
// object, and a stored target wins over a file's target of the same name.
func TestCheckWithKubeconfigChecksExistingObjectsAsKubectlApplyWould(t *testing.T) {
	s := admissionSuite(t)
	const stagingDoc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/state.backend, value: rocksdb}\n"
	const editedDoc = "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: production}\n  deploymentPatchSet:\n  - {op: add, path: /spec/template/spec/flinkConfiguration/state.backend, value: hashmap}\n"
	target, existing := name("stored"), name("stored-job")
	s.apply(t, s.targetManifest(target, stagingDoc))
	depDoc := "kind: Deployment\nspec:\n  deploymentTargetName: " + target + "\n  template:\n    spec:\n      parallelism: 3\n"
	s.apply(t, s.deploymentManifest(existing, depDoc))
	edited := s.targetManifest(target, editedDoc)
	newJob := s.deploymentManifest(name("new-job"), depDoc)

	cases := []struct {
		name  string
		files []string // manifests, one file each
		code  int
		// want checks the report of the last file, with kubectl's verdict on it.
		want func(t *testing.T, rep checkReport, kubectlOut, kubectlErr string, kubectlFailed bool)
	}{
		{name: "A target whose namespace was edited in git is checked as an UPDATE of the stored target and denied as immutable, as kubectl apply is.",
			files: []string{edited}, code: 1,
			want: func(t *testing.T, rep checkReport, _, kubectlErr string, kubectlFailed bool) {
				r := rep.Results[0]
				if r.Operation != "UPDATE" || r.Allowed || r.Reason != "immutable" {
					t.Errorf("check: %+v; want an UPDATE denied as immutable", r)
				}
				if !kubectlFailed || !strings.Contains(kubectlErr, "immutable") {
					t.Errorf("kubectl apply was not denied as immutable: %s", kubectlErr)
				}
			}},
		{name: "A new deployment next to an edited target is patched by the stored target, as the API server patches it, and the conflict is reported.",
			files: []string{edited, newJob}, code: 1,
			want: func(t *testing.T, rep checkReport, kubectlOut, _ string, _ bool) {
				r := rep.Results[1]
				if r.Operation != "CREATE" || !r.Allowed {
					t.Fatalf("check: %+v; want an admitted CREATE", r)
				}
				if !strings.Contains(r.Document, "state.backend: rocksdb") {
					t.Errorf("the deployment was not patched by the stored target:\n%s", r.Document)
				}
				if !strings.Contains(strings.Join(r.Warnings, "\n"), "differs from the target of that name stored") {
					t.Errorf("no warning reports the conflict: %q", r.Warnings)
				}
				if want := storedDocument(t, kubectlOut); r.Document != want {
					t.Errorf("check printed\n%s\nthe API server stores\n%s", r.Document, want)
				}
			}},
		{name: "An unchanged existing deployment is checked as an UPDATE and stored as the API server stores it.",
			files: []string{s.deploymentManifest(existing, depDoc)},
			want: func(t *testing.T, rep checkReport, kubectlOut, _ string, _ bool) {
				r := rep.Results[0]
				if r.Operation != "UPDATE" || !r.Allowed || len(r.Warnings) > 0 {
					t.Fatalf("check: %+v; want an admitted UPDATE without warnings", r)
				}
				if want := storedDocument(t, kubectlOut); r.Document != want {
					t.Errorf("check printed\n%s\nthe API server stores\n%s", r.Document, want)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"check", "--kubeconfig", s.c.Kubeconfig, "--platform-namespace", platformNS, "-o", "json"}
			for i, m := range tc.files {
				f := filepath.Join(dir, fmt.Sprintf("%d.yaml", i))
				if err := os.WriteFile(f, []byte(m), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, f)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, s.binary, args...).Output()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			var rep checkReport
			if err := json.Unmarshal(out, &rep); err != nil || len(rep.Results) != len(tc.files) {
				t.Fatalf("flinkgate check exited %d with %v; report %s", code, err, out)
			}
			if code != tc.code || !rep.ExistingObjectsConsidered {
				t.Errorf("exit status %d, existing objects considered %v; want %d, true", code, rep.ExistingObjectsConsidered, tc.code)
			}
			last := tc.files[len(tc.files)-1]
			kout, kerr, kfail := s.kubectl(t, last, "apply", "--dry-run=server", "-o", "json", "-f", "-")
			tc.want(t, rep, kout, kerr, kfail != nil)
		})
	}
}

// storedDocument is the resource document of a ConfigMap kubectl printed as JSON.
func storedDocument(t *testing.T, out string) string {
	t.Helper()
	var cm configMap
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatalf("kubectl printed %q: %v", out, err)
	}
	return cm.Data["resource.yaml"]
}

// chartMetrics renders the chart with the dashboard and the alert rules and
// returns every metric their queries read.
func chartMetrics(t *testing.T, s *suite) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := s.c.Helm(ctx, "template", "flinkgate", filepath.Join("..", "charts", "flinkgate"), "--namespace", platformNS,
		"--set", "metrics.dashboard.enabled=true,metrics.prometheusRule.enabled=true")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, errOut)
	}
	qs, err := queries.FromManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		names, err := queries.Metrics(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	if len(seen) < 5 {
		t.Fatalf("the chart's queries read only %v; the extraction is broken", seen)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func scrapeFamilies(t *testing.T, s *suite) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(httpGet(t, s.fg.MetricsURL()+"/metrics")))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// scrape returns the names of the series a running flinkgate exports now,
// histograms with their _bucket, _sum and _count series.
func scrape(t *testing.T, s *suite) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for name, f := range scrapeFamilies(t, s) {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
		}
	}
	return names
}

func TestDemoShowsTheAdminView(t *testing.T) {
	testenv.ToolsBin(t)
	crds := flinkOperatorCRDDir(t) // the demo installs them
	testenv.NewestOnly(t, "make demo runs the newest pinned Kubernetes")
	dir := filepath.Join(t.TempDir(), "demo")
	env := append(os.Environ(), "FLINKGATE_DEMO_DIR="+dir, flinkOperatorCRDsEnv+"="+crds)
	t.Cleanup(func() {
		down := exec.Command("bash", filepath.Join("..", "hack", "demo-down.sh"))
		down.Env = env
		if out, err := down.CombinedOutput(); err != nil {
			t.Errorf("demo-down: %v\n%s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, "bash", filepath.Join("hack", "demo.sh"))
	demo.Dir = ".."
	demo.Env = env
	out, err := demo.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, tail(string(out), 60))
	}
	for _, want := range []string{
		"--- examples/deployment.yaml (as written)", // the flinkgate check preview
		`flinkgate_admission_denials_total{kind="DeploymentTarget",operation="UPDATE",reason="immutable"} 1`,
		`flinkgate_admission_denials_total{kind="DeploymentTarget",operation="DELETE",reason="referenced"} 1`,
		`"validate.flinkgate.io/reason":"referenced"`,
		`"mutate.flinkgate.io/reason":"immutable"`,
		"/metrics (also /healthz, /readyz)",
		// The reconciler's part: the FlinkDeployment in the target's
		// namespace, written as the platform, and the pretend operator's
		// state back on the Deployment.
		"cannot become a FlinkDeployment",
		"namespace: staging\nspec:\n  flinkConfiguration:\n    state.checkpoints.dir: s3://my-bucket/checkpoints",
		`"verb":"create" "user":{"username":"admin" "impersonatedUser":{"username":"system:serviceaccount:flink-platform:flink-platform"`,
		"state: RUNNING\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output lacks %s", want)
		}
	}
	if strings.Contains(string(out), "flinkgate-webhook-probe") || strings.Contains(string(out), `kind="other"`) {
		t.Errorf("the demo shows the set-up's probe denials as its own:\n%s", out)
	}
}
