package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/golden"
)

// checkIn is where the check cases' input files are; the cases run with it
// as their directory so sources print as plain file names.
const checkIn = "testdata/check/in"

// runCheckIn runs flinkgate check in checkIn and returns its exit status,
// stdout and stderr.
func runCheckIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(checkIn)
	var stdout, stderr bytes.Buffer
	err := runCheck(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	code := 0
	var ec exitCode
	switch {
	case errors.As(err, &ec):
		code = int(ec)
	case err != nil:
		// main prints the error and exits 2.
		code = 2
		stderr.WriteString("flinkgate: " + err.Error() + "\n")
	}
	return code, stdout.String(), stderr.String()
}

func TestCheck(t *testing.T) {
	const pns = "--platform-namespace=flink-platform"
	cases := []struct {
		name   string
		golden string
		stdin  string
		args   []string
		code   int
	}{
		{name: "The seed's deployment is printed as stored, patched by the target given with --target.", golden: "deployment-manifest",
			args: []string{pns, "--target", "staging.yaml", "deployment.yaml"}},
		{name: "With -o document only the patched resource document is printed.", golden: "deployment-document",
			args: []string{pns, "--target", "staging.yaml", "-o", "document", "deployment.yaml"}},
		{name: "With -o diff a unified diff shows what admission changes.", golden: "deployment-diff",
			args: []string{pns, "--target", "staging.yaml", "-o", "diff", "deployment.yaml"}},
		{name: "With -o json the verdict, warnings and stored object are one JSON report.", golden: "deployment-json",
			args: []string{pns, "--target", "staging.yaml", "-o", "json", "deployment.yaml"}},
		{name: "Flags may follow the files, as with kubectl.", golden: "deployment-document",
			args: []string{"deployment.yaml", "--target", "staging.yaml", "-o", "document", pns}},
		{name: "Everything after -- is a file.", golden: "deployment-document",
			args: []string{pns, "-o", "document", "--target", "staging.yaml", "--", "deployment.yaml"}},
		{name: "A JSON document stays JSON.", golden: "deployment-json-document",
			args: []string{pns, "--target", "staging.yaml", "-o", "document", "deployment.json"}},
		{name: "A target alone is checked and printed as stored: immutable and annotated with its namespace.", golden: "target-alone",
			args: []string{pns, "staging.yaml"}},
		{name: "A bare target without a namespace is admitted with the warnings kubectl would print.", golden: "target-warnings",
			args: []string{pns, "local.yaml"}},
		{name: "A target with a misspelled field is denied with the webhook's message and exit status 1.", golden: "target-misspelled", code: 1,
			args: []string{pns, "misspelled.yaml"}},
		{name: "A denial in -o json carries the webhook, reason, code and message.", golden: "target-misspelled-json", code: 1,
			args: []string{pns, "-o", "json", "misspelled.yaml"}},
		{name: "A bare deployment document is wrapped in a ConfigMap named after its file, in --namespace.", golden: "bare-deployment",
			args: []string{pns, "--namespace", "flink-platform", "--target", "staging.yaml", "session-job.yaml"}},
		{name: "A deployment whose patch set fails is denied, naming the operation.", golden: "patch-fails", code: 1,
			args: []string{pns, "--target", "remover.yaml", "needs-logging.yaml"}},
		{name: "A deployment of a target given in an invalid file is denied, saying what is wrong with the target.", golden: "invalid-target", code: 1,
			args:  []string{pns, "--target", "misspelled.yaml", "-o", "json", "-"},
			stdin: "kind: Deployment\nmetadata: {name: d}\nspec: {deploymentTargetName: misspelled}\n"},
		{name: "In a multi-document file targets serve its deployments, a missing target is denied and other objects are skipped.", golden: "multi-document", code: 1,
			args: []string{pns, "platform.yaml"}},
		{name: "Objects in a v1 List are checked.", golden: "list",
			args: []string{pns, "--target", "staging.yaml", "-o", "document", "list.yaml"}},
		{name: "Manifests are read from stdin with -.", golden: "stdin",
			args: []string{pns, "-o", "document", "--target", "staging.yaml", "-"}, stdin: "kind: Deployment\nmetadata: {name: piped}\nspec: {deploymentTargetName: staging}\n"},
		{name: "A bare document on stdin must name itself.", golden: "stdin-unnamed", code: 2,
			args: []string{pns, "-"}, stdin: "kind: Deployment\nspec: {deploymentTargetName: staging}\n"},
		{name: "A file that is not YAML exits with status 2.", golden: "unreadable", code: 2,
			args: []string{pns, "broken.yaml"}},
		{name: "A ConfigMap with an unknown field is refused as kubectl would, exit status 2.", golden: "unknown-field", code: 2,
			args: []string{pns, "not-configmap-fields.yaml"}},
		{name: "A missing file exits with status 2.", golden: "missing-file", code: 2,
			args: []string{pns, "nothere.yaml"}},
		{name: "With -o flinkdeployment the FlinkDeployment an admitted deployment becomes is printed, after the target's patch set.", golden: "flinkdeployment",
			args: []string{pns, "--target", "staging.yaml", "-o", "flinkdeployment", "flink-job.yaml"}},
		{name: "With -o flinkdeployment the Flink pods' service account comes from --flink-service-account.", golden: "flinkdeployment-service-account",
			args: []string{pns, "--target", "staging.yaml", "-o", "flinkdeployment", "--flink-service-account", "flink-jobs", "flink-job.yaml"}},
		{name: "With -o flinkdeployment a deployment that cannot become a FlinkDeployment is named with the field and exit status 1.", golden: "flinkdeployment-untranslatable", code: 1,
			args: []string{pns, "--target", "staging.yaml", "-o", "flinkdeployment", "deployment.yaml", "flink-job.yaml"}},
		{name: "With -o flinkdeployment a target alone prints nothing.", golden: "flinkdeployment-target-alone",
			args: []string{pns, "-o", "flinkdeployment", "staging.yaml"}},
		{name: "With --flink-operator=on a deployment that cannot become a FlinkDeployment is denied by the validating webhook, naming the field, with exit status 1.", golden: "flink-operator-on-denied", code: 1,
			args: []string{pns, "--target", "staging.yaml", "--flink-operator=on", "deployment.yaml", "flink-job.yaml"}},
		{name: "With --flink-operator=on a deployment that becomes a FlinkDeployment is admitted as without it.", golden: "flink-operator-on-admitted",
			args: []string{pns, "--target", "staging.yaml", "--flink-operator=on", "-o", "document", "flink-job.yaml"}},
		{name: "With --flink-operator=on the Flink pods' default service account comes from --flink-service-account, so an empty one denies a deployment that names none.", golden: "flink-operator-on-no-service-account", code: 1,
			args: []string{pns, "--target", "staging.yaml", "--flink-operator=on", "--flink-service-account=", "flink-job.yaml"}},
		{name: "With --flink-operator=on a deployment that names a ServiceAccount neither the default nor allowed is denied, naming the allowed ones, with exit status 1.", golden: "flink-operator-on-service-account-not-allowed", code: 1,
			args: []string{pns, "--target", "staging.yaml", "--flink-operator=on", "named-service-account.yaml"}},
		{name: "With --flink-operator=on and -o flinkdeployment a ServiceAccount in --flink-allowed-service-accounts runs the Flink pods.", golden: "flinkdeployment-allowed-service-account",
			args: []string{pns, "--target", "staging.yaml", "--flink-operator=on", "--flink-allowed-service-accounts=etl-jobs,fraud-jobs", "-o", "flinkdeployment", "named-service-account.yaml"}},
		{name: "An unknown --flink-operator value is a usage error.", golden: "bad-flink-operator", code: 2,
			args: []string{pns, "--flink-operator=yes", "deployment.yaml"}},
		{name: "An unknown output format is a usage error.", golden: "bad-format", code: 2,
			args: []string{pns, "-o", "table", "deployment.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCheckIn(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", code, tc.code, stderr)
			}
			compareCheckGolden(t, tc.golden, stdout, stderr)
		})
	}
}

func TestCheckExitsTwoWhenTheClusterCannotBeAsked(t *testing.T) {
	// Nothing listens on port 1, so the read of the stored deployment fails at once.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCheckIn(t, "", "--platform-namespace=flink-platform", "--kubeconfig", kubeconfig, "deployment.yaml")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "deployment.yaml: could not read the stored object a write would update") || !strings.Contains(stderr, "try again") {
		t.Errorf("exit status %d, stdout %q, stderr %q; want 2 and the failed read of the stored deployment", code, stdout, stderr)
	}
}

func TestCheckWithoutFilesIsAUsageError(t *testing.T) {
	code, _, stderr := runCheckIn(t, "")
	if code != 2 || !strings.Contains(stderr, "usage: flinkgate check") {
		t.Errorf("exit status %d, stderr %q; want 2 and the usage", code, stderr)
	}
}

// compareCheckGolden compares the streams with testdata/check/NAME.golden.
func compareCheckGolden(t *testing.T, name, stdout, stderr string) {
	t.Helper()
	got := "## stdout\n" + stdout + "## stderr\n" + stderr
	// t.Chdir moved us into checkIn.
	path := filepath.Join("..", name+".golden")
	golden.Check(t, path, []byte(got), "go test ./cmd/flinkgate -run TestCheck -update")
}
