// NOTES.txt: what the install tells the user to do next.

package charts_test

import (
	"strings"
	"testing"
)

// notes renders NOTES.txt, which `helm template` leaves out, through a
// client-side dry-run install (no cluster is contacted).
func notes(t *testing.T, values string) string {
	t.Helper()
	skipNotesUnderHelm3(t)
	out, err := runHelm(t, "install", release, chartDir, "--namespace", namespace, "--dry-run=client",
		"--values", valuesFile(t, values))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(out, "\nNOTES:\n")
	if !ok {
		t.Fatalf("no NOTES in:\n%s", out)
	}
	return after
}

func TestNotesSayWhatToDoNext(t *testing.T) {
	cases := []struct {
		name   string
		values string
		want   []string
	}{
		{"By default the notes say to wait for the rollout and to list target namespaces.", "",
			[]string{"rollout status deployment/" + fullname, "denied until you list their namespaces", "appmanager.rbac.additionalNamespaces={staging,production}"}},
		{"With additional namespaces the notes name them and use one in the example target.", additionalNamespacesValues,
			[]string{"may manage Flink clusters in:\n   staging, production.", "namespace: staging"}},
		{"In url mode the notes say how to start flinkgate with the certificate from the TLS Secret.", urlValues,
			[]string{"https://127.0.0.1:9443/mutate", "get secret " + tlsSecret, "--webhook-addr=:9443", "--namespaces=" + namespace}},
		{"In certManager mode the notes say how to check the Certificate and the injected CA.", certManagerValues,
			[]string{"get certificate " + fullname + "-tls", "caBundle"}},
		{"With RBAC turned off the notes say which rules to grant by hand.", "appmanager:\n  rbac:\n    create: false\n",
			[]string{"created no RBAC at all", "rbac.RequiredRules()"}},
		{"With flinkOperator.enabled in url mode the notes start flinkgate with the operator on, and say to install the operator.", urlValues + "flinkOperator:\n  enabled: true\n",
			[]string{"--authorization=rbac \\\n       --flink-operator=on --flink-service-account=flink\n", "6. Flink Kubernetes Operator: on.", "Install the operator (release 1.15)", "flinkOperator.jobServiceAccount.create=true"}},
		{"With flinkOperator.enabled the notes say a target's creator also needs create on FlinkDeployments in its namespace.", "flinkOperator:\n  enabled: true\n",
			[]string{"creating a target also needs create on\n   flinkdeployments.flink.apache.org in the target's namespace"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := notes(t, tc.values)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the notes lack %q:\n%s", w, got)
				}
			}
		})
	}
}
