//go:build e2e

package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// TestOnlyUpdatesThatChangeWhatFlinkgateReadsAreSentToIt checks the chart's
// matchCondition changes-what-flinkgate-reads on a real API server: an
// UPDATE that leaves data, binaryData, immutable, the labels, the finalizers
// and the flinkgate.io/ annotations as they were costs no webhook call;
// every other UPDATE still reaches both webhooks.
func TestOnlyUpdatesThatChangeWhatFlinkgateReadsAreSentToIt(t *testing.T) {
	s := admissionSuite(t)
	target := s.seedTarget(t)
	cases := []struct {
		name string
		// args are kubectl's, given the deployment's name.
		args func(job string) []string
		// answers is how many of flinkgate's two webhooks are asked.
		answers int
	}{
		{"an annotation outside flinkgate.io/ is not sent",
			func(job string) []string { return []string{"annotate", "configmap", job, "example.com/owner=team-a"} }, 0},
		{"a changed annotation outside flinkgate.io/ is not sent",
			func(job string) []string {
				return []string{"annotate", "configmap", job, "--overwrite", "kubectl.kubernetes.io/last-applied-configuration={}"}
			}, 0},
		{"a label is sent",
			func(job string) []string { return []string{"label", "configmap", job, "example.com/team=a"} }, 2},
		{"an annotation flinkgate reads, added, is sent",
			func(job string) []string { return []string{"annotate", "configmap", job, "flinkgate.io/namespace=x"} }, 2},
		{"a flinkgate.io/ annotation flinkgate does not read is not sent",
			func(job string) []string { return []string{"annotate", "configmap", job, "flinkgate.io/note=x"} }, 0},
		// The mutating webhook puts the digest back, so the object the
		// validating webhook would see changes nothing it reads.
		{"an annotation flinkgate reads, removed, is sent to the mutating webhook, which restores it",
			func(job string) []string {
				return []string{"annotate", "configmap", job, "flinkgate.io/resource-digest-"}
			}, 1},
		{"a finalizer is sent",
			func(job string) []string {
				return []string{"patch", "configmap", job, "--type=json", "-p", `[{"op":"add","path":"/metadata/finalizers","value":["example.com/hold"]}]`}
			}, 2},
		{"a changed document is sent",
			func(job string) []string {
				return []string{"patch", "configmap", job, "--type=merge", "-p", `{"data":{"resource.yaml":"kind: Deployment\nspec:\n  deploymentTargetName: ` + target + `\n"}}`}
			}, 2},
		{"immutable set is sent",
			func(job string) []string {
				return []string{"patch", "configmap", job, "--type=merge", "-p", `{"immutable":true}`}
			}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			job := name("top-speed-windowing")
			s.apply(t, s.exampleDeployment(t, job, target))
			t.Cleanup(func() {
				s.kubectl(t, "", "-n", s.ns, "patch", "configmap", job, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
				s.kubectl(t, "", "-n", s.ns, "delete", "configmap", job, "--wait=false")
			})
			before := deploymentUpdatesAnswered(t, s)
			// Whether flinkgate allows the write does not matter here, only
			// whether it was asked.
			s.kubectl(t, "", append([]string{"-n", s.ns}, tc.args(job)...)...)
			got := deploymentUpdatesAnswered(t, s) - before
			if got != tc.answers {
				t.Errorf("flinkgate answered %d deployment UPDATEs; want %d", got, tc.answers)
			}
		})
	}
}

// deploymentUpdatesAnswered is how many deployment UPDATEs flinkgate's two
// webhooks have answered, whatever the result.
func deploymentUpdatesAnswered(t *testing.T, s *suite) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(httpGet(t, s.fg.MetricsURL()+"/metrics"), "\n") {
		if !strings.HasPrefix(line, "flinkgate_admission_requests_total{") ||
			!strings.Contains(line, `kind="Deployment"`) || !strings.Contains(line, `operation="UPDATE"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		n += int(v)
	}
	return n
}
