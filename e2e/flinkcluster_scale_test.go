//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"flinkgate.io/flinkgate/internal/flinkop"
)

// The scale bounds on this two-core machine.
const (
	scaleDeployments   = 200
	scaleWithin        = 60 * time.Second
	scaleStatusUpdates = 1000
	// scaleWorkers is how many writes the test has in flight.
	scaleWorkers = 8
)

// parallel runs do(0..n-1) on scaleWorkers goroutines.
func parallel(n int, do func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(scaleWorkers)
	for i := range n {
		g.Go(func() error { return do(i) })
	}
	return g.Wait()
}

// byDeployment groups the env's FlinkDeployments by the Deployment their
// labels name; each value lists "namespace/name" of its FlinkDeployments.
func (fe *flinkEnv) byDeployment(t testing.TB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, fd := range fe.flinkDeployments(t) {
		dep := fd.GetLabels()[flinkop.LabelDeploymentName]
		out[dep] = append(out[dep], fd.GetNamespace()+"/"+fd.GetName())
	}
	return out
}

// countPrefix counts the Deployments named prefix* that have a
// FlinkDeployment.
func countPrefix(by map[string][]string, prefix string) int {
	n := 0
	for dep := range by {
		if strings.HasPrefix(dep, prefix) {
			n++
		}
	}
	return n
}

// Run it alone: go test -tags e2e -run '^TestFlinkDeploymentsAtScale$' ./e2e/
func TestFlinkDeploymentsAtScale(t *testing.T) {
	loadTestOnNewestOnly(t)
	fe := startFlinkEnv(t, "flink-scale", flinkEnvOptions{targets: 2})
	op := fakeOperator{fe.dc}
	targets := make([]string, len(fe.targetNS))
	for i, ns := range fe.targetNS {
		targets[i], _ = fe.createTarget(t, ns)
	}
	// Deployment i of a batch goes to target i%2.
	depName := func(batch string, i int) string { return fmt.Sprintf("%s-%03d", batch, i) }
	create := func(t *testing.T, batch string) {
		t.Helper()
		if err := parallel(scaleDeployments, func(i int) error {
			_, err := fe.tryCreateDeployment(depName(batch, i), targets[i%2], jarURI(i), "RUNNING")
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// wantPlaced checks that each Deployment of the batch has exactly one
	// FlinkDeployment, of its name, in its target's namespace.
	wantPlaced := func(t *testing.T, by map[string][]string, batch string) {
		t.Helper()
		for i := range scaleDeployments {
			dep := depName(batch, i)
			want := []string{fe.targetNS[i%2] + "/" + dep}
			if got := by[dep]; !slices.Equal(got, want) {
				t.Errorf("deployment %s has FlinkDeployments %q, want %q", dep, got, want)
			}
		}
	}
	began := time.Now()
	runSteps(t, []step{
		{"200 Deployments over 2 targets become 200 FlinkDeployments within 60 seconds", func(t *testing.T) {
			create(t, "scale")
			created := time.Since(began)
			var by map[string][]string
			waitUntil(t, scaleWithin-time.Since(began), "200 FlinkDeployments", func() (bool, string) {
				by = fe.byDeployment(t)
				n := countPrefix(by, "scale-")
				return n == scaleDeployments, fmt.Sprintf("%d FlinkDeployments", n)
			})
			t.Logf("200 Deployments created in %s; 200 FlinkDeployments %s after the first create", created.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			wantPlaced(t, by, "scale")
		}},
		{"1,000 status-only updates from the operator cause no FlinkDeployment spec write, and every state comes back", func(t *testing.T) {
			generations := map[string]int64{}
			for _, fd := range fe.flinkDeployments(t) {
				generations[fd.GetNamespace()+"/"+fd.GetName()] = fd.GetGeneration()
			}
			auditAt := fe.auditLogEnd(t)
			began := time.Now()
			// Each FlinkDeployment goes through the operator's start-up
			// to RUNNING, the last of its updates.
			phases := []operatorStatus{
				{JobState: "CREATED", LifecycleState: "DEPLOYED", JobManager: "DEPLOYING"},
				{JobState: "INITIALIZING", LifecycleState: "DEPLOYED", JobManager: "DEPLOYED_NOT_READY"},
				{JobState: "RECONCILING", LifecycleState: "DEPLOYED", JobManager: "READY"},
				{JobState: "RUNNING", LifecycleState: "DEPLOYED", JobManager: "READY"},
				{JobState: "RUNNING", LifecycleState: "STABLE", JobManager: "READY"},
			}
			if len(phases)*scaleDeployments != scaleStatusUpdates {
				t.Fatalf("%d phases of %d FlinkDeployments are not %d updates", len(phases), scaleDeployments, scaleStatusUpdates)
			}
			if err := parallel(scaleDeployments, func(i int) error {
				dep := depName("scale", i)
				for _, st := range phases {
					st.JobID = fmt.Sprintf("job-%03d", i)
					if !op.trySetStatus(t, fe.targetNS[i%2], dep, st) {
						return fmt.Errorf("status of %s", dep)
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d status updates in %s", scaleStatusUpdates, time.Since(began).Round(time.Millisecond))
			// Once every Deployment shows the last status, flinkgate has
			// seen them all.
			waitUntil(t, waitFor, "every Deployment to carry state RUNNING", func() (bool, string) {
				l, err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					return false, err.Error()
				}
				running := 0
				for _, cm := range l.Items {
					if strings.HasPrefix(cm.Name, "scale-") && cm.Annotations[stateAnnotation] == "RUNNING" {
						running++
					}
				}
				return running == scaleDeployments, fmt.Sprintf("%d RUNNING", running)
			})
			t.Logf("every state came back %s after the first status update", time.Since(began).Round(time.Millisecond))
			writes, _ := fe.flinkDeploymentWrites(t, auditAt)
			if len(writes) > 0 {
				t.Errorf("%d FlinkDeployment writes during status-only updates, e.g. %s", len(writes), writes[0])
			}
			changed := 0
			for _, fd := range fe.flinkDeployments(t) {
				if g, ok := generations[fd.GetNamespace()+"/"+fd.GetName()]; ok && g != fd.GetGeneration() {
					changed++
				}
			}
			if changed > 0 {
				t.Errorf("%d FlinkDeployments changed generation during status-only updates", changed)
			}
			t.Logf("audit: 0 writes of FlinkDeployments; %d generations unchanged", len(generations))
		}},
		{"SIGKILL half-way through 200 more Deployments and a restart leave exactly one FlinkDeployment each, and the sweep removes an orphan and a misplaced copy", func(t *testing.T) {
			port := fe.webhookPort(t)
			began := time.Now()
			// Every Deployment is created first: with flinkgate down its
			// webhooks (failurePolicy Fail) refuse them.
			create(t, "kill")
			var killedAt int
			waitUntil(t, scaleWithin, "half of the 200 new FlinkDeployments", func() (bool, string) {
				n := countPrefix(fe.byDeployment(t), "kill-")
				if n >= scaleDeployments/2 {
					fe.fg.Kill()
					killedAt = n
					return true, ""
				}
				return false, fmt.Sprintf("%d FlinkDeployments", n)
			})
			if killedAt >= scaleDeployments {
				t.Fatalf("flinkgate had made all %d FlinkDeployments before the kill; the test did not kill it half-way", killedAt)
			}
			t.Logf("SIGKILL with %d of 200 FlinkDeployments made, %s after the first create", killedAt, time.Since(began).Round(time.Millisecond))

			// While flinkgate is down: an orphan (its Deployment never
			// existed) and a copy of a FlinkDeployment in the other
			// target's namespace, both labelled as flinkgate labels them.
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			orphan := foreignFlinkDeployment(fe.targetNS[0], "orphan", map[string]string{
				flinkop.LabelDeploymentNamespace: fe.platformNS,
				flinkop.LabelDeploymentName:      "orphan",
				flinkop.LabelDeploymentUID:       "2f1c3c4e-0000-4000-8000-000000000002",
			})
			src := fe.awaitFlinkDeployment(t, waitFor, fe.targetNS[0], depName("kill", 0), "exists", nil)
			misplaced := foreignFlinkDeployment(fe.targetNS[1], src.GetName(), src.GetLabels())
			for _, u := range []*unstructured.Unstructured{orphan, misplaced} {
				if _, err := fe.dc.Resource(flinkDeploymentGVR).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{}); err != nil {
					t.Fatalf("create %s/%s: %v", u.GetNamespace(), u.GetName(), err)
				}
			}

			restarted := time.Now()
			fe.start(t, port, nil)
			var by map[string][]string
			waitUntil(t, 2*scaleWithin, "exactly one FlinkDeployment per Deployment, in its target's namespace", func() (bool, string) {
				by = fe.byDeployment(t)
				n := countPrefix(by, "kill-")
				return n == scaleDeployments && len(by["orphan"]) == 0 && len(by[depName("kill", 0)]) == 1,
					fmt.Sprintf("%d Deployments with FlinkDeployments; the orphan's %q; %s's %q", n, by["orphan"], depName("kill", 0), by[depName("kill", 0)])
			})
			t.Logf("restarted flinkgate settled %s after its start, %s after the first create", time.Since(restarted).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			wantPlaced(t, by, "kill")
			wantPlaced(t, by, "scale")
			if rest := slices.DeleteFunc(slices.Collect(maps.Keys(by)), func(d string) bool {
				return strings.HasPrefix(d, "scale-") || strings.HasPrefix(d, "kill-")
			}); len(rest) > 0 {
				t.Errorf("FlinkDeployments of unknown Deployments: %q", rest)
			}
			owned := 0
			for _, fd := range fe.flinkDeployments(t) {
				if len(fd.GetOwnerReferences()) > 0 {
					owned++
				}
			}
			if owned > 0 {
				t.Errorf("%d FlinkDeployments carry ownerReferences", owned)
			}
		}},
	})
	t.Logf("the scale test took %s after its environment started", time.Since(began).Round(time.Second))
}
