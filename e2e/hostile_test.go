//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/hostile"
)

// The hostile corpus's bounds, as the issue that asked for them states them:
// flinkgate runs with GOMEMLIMIT=128MiB and must keep its peak RSS below
// maxRSS, and every object must be answered through the API server within
// maxRoundTrip.
const (
	goMemLimit   = "128MiB"
	maxRSS       = 192 << 20
	maxRoundTrip = time.Second
)

// readCorpus reads every object of testdata/hostile, in file order.
func readCorpus(t *testing.T) []hostile.Object {
	t.Helper()
	objects, err := hostile.Read(filepath.Join("..", "testdata", "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// decision is what flinkgate's log says it decided about one object.
type decision struct {
	Webhook  string  `json:"webhook"`
	Name     string  `json:"name"`
	Reason   string  `json:"reason"`
	Allowed  bool    `json:"allowed"`
	Duration float64 `json:"duration"` // seconds
}

func decisions(t *testing.T, logPath string) map[string][]decision {
	t.Helper()
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]decision{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var d decision
		if !strings.Contains(sc.Text(), `"admission decision"`) || json.Unmarshal(sc.Bytes(), &d) != nil {
			continue
		}
		out[d.Name] = append(out[d.Name], d)
	}
	return out
}

// peakRSS is a process's high-water mark of resident memory (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc status for flinkgate: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestHostileCorpusThroughTheAPIServer creates every object of
// testdata/hostile through the API server against a flinkgate limited to
// GOMEMLIMIT=128MiB, then checks that flinkgate still admits the seed's
// deployment correctly, answered each object as its file says and within
// the bounds, and kept its peak RSS below 192 MiB.
func TestHostileCorpusThroughTheAPIServer(t *testing.T) {
	s := hostileFlinkgate(t)
	c, fg := s.c, s.fg
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	objects := readCorpus(t)
	took := map[string]time.Duration{}
	outcome := map[string]error{}
	for _, o := range objects {
		callCtx, done := context.WithTimeout(ctx, 30*time.Second)
		start := time.Now()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: s.ns, Labels: o.Labels}, Data: o.Data}
		_, err := c.Client().CoreV1().ConfigMaps(s.ns).Create(callCtx, cm, metav1.CreateOptions{})
		took[o.Name] = time.Since(start)
		done()
		outcome[o.Name] = err
	}

	t.Run("flinkgate still admits the seed's deployment correctly", func(t *testing.T) {
		target := s.seedTarget(t)
		s.apply(t, s.exampleDeployment(t, "top-speed-windowing", target))
		doc := s.get(t, "top-speed-windowing").Data["resource.yaml"]
		for _, want := range []string{"state.checkpoints.dir: s3://my-bucket/checkpoints", "state.savepoints.dir: s3://my-bucket/savepoints", "parallelism: 2"} {
			if !strings.Contains(doc, want) {
				t.Errorf("the seed's deployment lacks %q:\n%s", want, doc)
			}
		}
	})

	byName := decisions(t, fg.LogPath())
	var slowest, slowestFlinkgate time.Duration
	for _, o := range objects {
		name := o.Name
		t.Run(o.File+"/"+name, func(t *testing.T) {
			err := outcome[name]
			var inFlinkgate time.Duration
			got := "allowed"
			for _, d := range byName[name] {
				// The slower of the two webhooks' decisions: each is one
				// request the API server waits for.
				inFlinkgate = max(inFlinkgate, time.Duration(d.Duration*float64(time.Second)))
				if !d.Allowed {
					got = d.Reason
				}
			}
			t.Logf("%s: %s; API server round trip %v, flinkgate's slower decision %v", name, got, took[name].Round(time.Millisecond), inFlinkgate.Round(100*time.Microsecond))
			slowest, slowestFlinkgate = max(slowest, took[name]), max(slowestFlinkgate, inFlinkgate)
			switch {
			case len(byName[name]) == 0:
				t.Errorf("flinkgate logged no decision about %s (create: %v)", name, err)
			case got != o.Expect:
				t.Errorf("got %s, want %s (create: %v)", got, o.Expect, err)
			case got == "allowed" && err != nil:
				t.Errorf("flinkgate allowed it but the create failed: %v", err)
			case got != "allowed" && (err == nil || !strings.Contains(err.Error(), `flinkgate.io" denied the request`)):
				t.Errorf("want flinkgate's denial, got %v", err)
			}
			if took[name] > maxRoundTrip {
				t.Errorf("the API server answered in %v, more than %v", took[name], maxRoundTrip)
			}
		})
	}
	t.Logf("slowest object: %v through the API server, %v in flinkgate", slowest.Round(time.Millisecond), slowestFlinkgate.Round(100*time.Microsecond))

	t.Run("a label change on a deployment whose target removes a field is admitted", func(t *testing.T) {
		target := "kind: DeploymentTarget\nspec:\n  kubernetes: {namespace: staging}\n  deploymentPatchSet:\n  - {op: remove, path: /spec/template/spec/debug}\n"
		s.apply(t, s.targetManifest("debug-remover", target))
		s.apply(t, s.deploymentManifest("quiet", "kind: Deployment\nspec:\n  deploymentTargetName: debug-remover\n  template:\n    spec:\n      debug: true\n"))
		if doc := s.get(t, "quiet").Data["resource.yaml"]; strings.Contains(doc, "debug: true") {
			t.Fatalf("the patch set did not remove debug:\n%s", doc)
		}
		// Applying the patch set again would fail: debug is gone.
		s.mustKubectl(t, "", "-n", s.ns, "label", "configmap", "quiet", "team=data")
		if got := s.get(t, "quiet").Metadata.Labels["team"]; got != "data" {
			t.Errorf("label team = %q, want data", got)
		}
	})

	t.Run("flinkgate's peak RSS stayed below 192 MiB", func(t *testing.T) {
		rss := peakRSS(t, fg.Pid())
		t.Logf("flinkgate VmHWM: %.1f MiB (GOMEMLIMIT=%s)", float64(rss)/(1<<20), goMemLimit)
		if rss > maxRSS {
			t.Errorf("VmHWM %d bytes, more than %d", rss, maxRSS)
		}
	})
}

// hostileFlinkgate starts a flinkgate of the test's own with
// GOMEMLIMIT=128MiB, serving a fresh namespace under webhooks of its own.
func hostileFlinkgate(t *testing.T) *suite {
	t.Helper()
	return ownFlinkgateWithEnv(t, "hostile", map[string]string{"GOMEMLIMIT": goMemLimit}, "--rbac-preflight=off")
}
