//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/rbac"
)

// The reconciler end to end (issue 23's Proof): flinkgate with
// --flink-operator=on turns Deployments into FlinkDeployments in their
// targets' namespaces, as the platform, and reports the operator's status
// back; the tests play the operator.

// The bounds.
const (
	flinkDeploymentWithin = 10 * time.Second
	stateBackWithin       = 5 * time.Second
)

// step is one named step of a scenario; later steps build on earlier ones,
// so the first failure ends the scenario.
type step struct {
	name string
	run  func(t *testing.T)
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
}

func TestADeploymentBecomesAFlinkDeploymentAndTheOperatorsStateComesBack(t *testing.T) {
	fe := startFlinkEnv(t, "flink-life", flinkEnvOptions{targets: 1})
	op := fakeOperator{fe.dc}
	owners := fe.watchOwnerReferences(t)
	ns := fe.targetNS[0]
	dep := name("top-speed")
	var (
		target  string
		uid     types.UID // the FlinkDeployment's
		auditAt int64
	)
	runSteps(t, []step{
		{"creating a target and a Deployment makes a FlinkDeployment in the target's namespace within 10 seconds, with the patch set's effect in it", func(t *testing.T) {
			target, _ = fe.createTarget(t, ns)
			auditAt = fe.auditLogEnd(t)
			began := time.Now()
			cm := fe.createDeployment(t, dep, target, jarURI(1), "RUNNING")
			fd := fe.awaitFlinkDeployment(t, flinkDeploymentWithin, ns, dep, "created", nil)
			t.Logf("the FlinkDeployment existed %s after the Deployment's create", time.Since(began).Round(time.Millisecond))
			uid = fd.GetUID()
			wantLabels := map[string]string{
				flinkop.LabelDeploymentNamespace: fe.platformNS,
				flinkop.LabelDeploymentName:      dep,
				flinkop.LabelDeploymentUID:       string(cm.UID),
			}
			for k, v := range wantLabels {
				if got := fd.GetLabels()[k]; got != v {
					t.Errorf("label %s is %q, want %q", k, got, v)
				}
			}
			if got, _, _ := unstructured.NestedString(fd.Object, "spec", "flinkConfiguration", "state.savepoints.dir"); got != savepointsDir(target) {
				t.Errorf("spec.flinkConfiguration[state.savepoints.dir] is %q, want the patch set's %q", got, savepointsDir(target))
			}
			if got, _, _ := unstructured.NestedString(fd.Object, "spec", "job", "jarURI"); got != jarURI(1) {
				t.Errorf("spec.job.jarURI is %q, want %q", got, jarURI(1))
			}
			if got, _, _ := unstructured.NestedString(fd.Object, "spec", "job", "state"); got != "running" {
				t.Errorf("spec.job.state is %q, want running", got)
			}
			if got := fe.configMap(t, dep).Finalizers; !slices.Contains(got, flinkClusterFinalizer) {
				t.Errorf("the Deployment's finalizers are %q, want %s among them", got, flinkClusterFinalizer)
			}
		}},
		{"the FlinkDeployment was written by flinkgate impersonating the platform's ServiceAccount, with field manager flinkgate", func(t *testing.T) {
			var writes []auditRecord
			waitUntil(t, waitFor, "the audit log to record the FlinkDeployment's create", func() (bool, string) {
				writes, _ = fe.flinkDeploymentWrites(t, auditAt)
				return len(writes) > 0, "no write of a FlinkDeployment in the audit log"
			})
			for _, w := range writes {
				if w.User.Username != fe.self.User() || w.ImpersonatedUser == nil || w.ImpersonatedUser.Username != fe.platform.User() {
					t.Errorf("audit: %s; want every write by %s as %s", w, fe.self.User(), fe.platform.User())
				}
			}
			t.Logf("audit: %q", writes)
			fd := fe.flinkDeployment(t, ns, dep)
			var managers []string
			for _, mf := range fd.GetManagedFields() {
				managers = append(managers, mf.Manager+" "+string(mf.Operation))
			}
			if !slices.ContainsFunc(managers, func(m string) bool { return strings.HasPrefix(m, fieldManager+" ") }) {
				t.Errorf("the FlinkDeployment's field managers are %q; want %s among them", managers, fieldManager)
			}
		}},
		{"the operator reporting the job RUNNING shows as flinkgate.io/state RUNNING on the Deployment within 5 seconds", func(t *testing.T) {
			op.addFinalizer(t, ns, dep)
			// Two completed savepoints and a newer one still in
			// progress: the status names the newest completed one.
			now := time.Now()
			op.snapshot(t, ns, dep, "s3://e2e-bucket/sp-1", "COMPLETED", now.Add(-2*time.Minute))
			op.snapshot(t, ns, dep, "s3://e2e-bucket/sp-2", "COMPLETED", now.Add(-time.Minute))
			op.snapshot(t, ns, dep, "s3://e2e-bucket/sp-3", "IN_PROGRESS", now)
			op.setStatus(t, ns, dep, running("job-1"))
			began := time.Now()
			fe.awaitState(t, stateBackWithin, dep, "RUNNING")
			t.Logf("RUNNING came back %s after the operator's status write", time.Since(began).Round(time.Millisecond))
		}},
		{"the status annotation names the job, its states and the newest completed savepoint, in at most 4 KiB", func(t *testing.T) {
			want := flinkStatus{JobID: "job-1", LifecycleState: "STABLE", JobState: "RUNNING", LastSavepoint: "s3://e2e-bucket/sp-2"}
			waitUntil(t, waitFor, "the status annotation", func() (bool, string) {
				cm := fe.configMap(t, dep)
				got, err := statusOf(cm)
				if err != nil {
					return false, err.Error()
				}
				got.ObservedGeneration = 0
				if len(cm.Annotations[statusAnnotation]) > 4096 {
					t.Fatalf("the status annotation has %d bytes, more than 4 KiB", len(cm.Annotations[statusAnnotation]))
				}
				return got == want, fmt.Sprintf("%s is %s", statusAnnotation, cm.Annotations[statusAnnotation])
			})
		}},
		{"changing the jar updates the same FlinkDeployment (same UID), which is TRANSITIONING until the operator catches up", func(t *testing.T) {
			before := fe.flinkDeployment(t, ns, dep).GetGeneration()
			fe.updateDeployment(t, dep, target, jarURI(2), "RUNNING")
			fd := fe.awaitFlinkDeployment(t, waitFor, ns, dep, "the new jar", func(u *unstructured.Unstructured) (bool, string) {
				got, _, _ := unstructured.NestedString(u.Object, "spec", "job", "jarURI")
				return got == jarURI(2), "spec.job.jarURI is " + got
			})
			if fd.GetUID() != uid {
				t.Errorf("the FlinkDeployment's UID is %s, was %s: it was re-created", fd.GetUID(), uid)
			}
			if fd.GetGeneration() <= before {
				t.Errorf("generation %d, was %d", fd.GetGeneration(), before)
			}
			fe.awaitState(t, waitFor, dep, "TRANSITIONING")
			op.setStatus(t, ns, dep, running("job-1"))
			fe.awaitState(t, stateBackWithin, dep, "RUNNING")
		}},
		{"setting state SUSPENDED suspends the job, and the operator's SUSPENDED comes back", func(t *testing.T) {
			fe.updateDeployment(t, dep, target, jarURI(2), "SUSPENDED")
			fe.awaitFlinkDeployment(t, waitFor, ns, dep, "job.state suspended", func(u *unstructured.Unstructured) (bool, string) {
				got, _, _ := unstructured.NestedString(u.Object, "spec", "job", "state")
				return got == "suspended", "spec.job.state is " + got
			})
			op.setStatus(t, ns, dep, suspended("job-1"))
			fe.awaitState(t, stateBackWithin, dep, "SUSPENDED")
			if fd := fe.flinkDeployment(t, ns, dep); fd.GetUID() != uid {
				t.Errorf("the FlinkDeployment's UID is %s, was %s: it was re-created", fd.GetUID(), uid)
			}
		}},
		{"deleting the Deployment deletes the FlinkDeployment as the platform, and the ConfigMap goes only once the FlinkDeployment is gone", func(t *testing.T) {
			auditAt = fe.auditLogEnd(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Delete(ctx, dep, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			// The operator's finalizer holds the FlinkDeployment, and
			// flinkgate's the ConfigMap.
			fe.awaitFlinkDeployment(t, waitFor, ns, dep, "deletion requested", func(u *unstructured.Unstructured) (bool, string) {
				return u.GetDeletionTimestamp() != nil, "no deletionTimestamp"
			})
			if cm := fe.configMap(t, dep); cm == nil || !slices.Contains(cm.Finalizers, flinkClusterFinalizer) {
				t.Fatalf("the Deployment's ConfigMap went (or lost %s) while its FlinkDeployment still exists", flinkClusterFinalizer)
			}
			writes, _ := fe.flinkDeploymentWrites(t, auditAt)
			if !slices.ContainsFunc(writes, func(w auditRecord) bool {
				return w.Verb == "delete" && w.ObjectRef.Name == dep && w.ImpersonatedUser != nil && w.ImpersonatedUser.Username == fe.platform.User()
			}) {
				t.Errorf("audit: %q; want a delete of %s/%s as %s", writes, ns, dep, fe.platform.User())
			}
			op.removeFinalizer(t, ns, dep)
			waitUntil(t, waitFor, "the FlinkDeployment, then the ConfigMap, to go", func() (bool, string) {
				cmGone := fe.configMap(t, dep) == nil
				fdGone := fe.flinkDeployment(t, ns, dep) == nil
				if cmGone && !fdGone {
					t.Fatal("the ConfigMap went before the FlinkDeployment")
				}
				return cmGone && fdGone, fmt.Sprintf("FlinkDeployment gone: %t, ConfigMap gone: %t", fdGone, cmGone)
			})
		}},
		{"no FlinkDeployment ever carried an ownerReference", func(t *testing.T) {
			seen, withOwners := owners()
			if seen < 5 {
				t.Fatalf("the watch saw %d versions of FlinkDeployments; want at least 5 (create, updates, delete)", seen)
			}
			if len(withOwners) > 0 {
				t.Errorf("FlinkDeployments with ownerReferences: %q", withOwners)
			}
		}},
	})
}

// watchOwnerReferences watches the env's FlinkDeployments in every
// namespace until the test ends; the function returns how many versions
// it saw and those that carried an ownerReference.
func (fe *flinkEnv) watchOwnerReferences(t *testing.T) func() (int, []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := fe.dc.Resource(flinkDeploymentGVR).Watch(ctx, metav1.ListOptions{LabelSelector: flinkop.LabelDeploymentNamespace + "=" + fe.platformNS})
	if err != nil {
		cancel()
		t.Fatalf("watch flinkdeployments: %v", err)
	}
	var (
		mu     sync.Mutex
		seen   int
		owners []string
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Bookmark {
				continue
			}
			mu.Lock()
			seen++
			if refs := u.GetOwnerReferences(); len(refs) > 0 {
				owners = append(owners, fmt.Sprintf("%s/%s at %s: %v", u.GetNamespace(), u.GetName(), u.GetResourceVersion(), refs))
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		w.Stop()
		<-done
	})
	return func() (int, []string) {
		mu.Lock()
		defer mu.Unlock()
		return seen, slices.Clone(owners)
	}
}

// foreignFlinkDeployment is a FlinkDeployment flinkgate did not make.
func foreignFlinkDeployment(ns, fdName string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flink.apache.org/v1beta1",
		"kind":       "FlinkDeployment",
		"metadata":   map[string]any{"name": fdName, "namespace": ns},
		"spec": map[string]any{
			"image":          "flink:1.20",
			"flinkVersion":   "v1_20",
			"serviceAccount": "flink",
			"jobManager":     map[string]any{"resource": map[string]any{"cpu": int64(1), "memory": "1Gi"}},
			"taskManager":    map[string]any{"resource": map[string]any{"cpu": int64(1), "memory": "1Gi"}},
			"job":            map[string]any{"jarURI": "local:///opt/flink/usrlib/someone-elses.jar", "parallelism": int64(1), "upgradeMode": "stateless", "state": "running"},
		},
	}}
	if labels != nil {
		u.SetLabels(labels)
	}
	return u
}

func TestAFlinkDeploymentLabelledForAnotherDeploymentIsNeverAdopted(t *testing.T) {
	fe := startFlinkEnv(t, "flink-conflict", flinkEnvOptions{targets: 1})
	ns := fe.targetNS[0]
	target, _ := fe.createTarget(t, ns)
	for _, tc := range []struct {
		name   string
		labels func(dep string) map[string]string
	}{
		{
			name: "a FlinkDeployment of a namesake Deployment in a namespace this flinkgate does not serve is reported as a conflict and left alone",
			labels: func(dep string) map[string]string {
				return map[string]string{
					flinkop.LabelDeploymentNamespace: "another-platform",
					flinkop.LabelDeploymentName:      dep,
					flinkop.LabelDeploymentUID:       "2f1c3c4e-0000-4000-8000-000000000001",
				}
			},
		},
		{
			name:   "a FlinkDeployment without flinkgate's labels (made by hand) is reported as a conflict and left alone",
			labels: func(string) map[string]string { return nil },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep := name("foreign")
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			foreign, err := fe.dc.Resource(flinkDeploymentGVR).Namespace(ns).Create(ctx, foreignFlinkDeployment(ns, dep, tc.labels(dep)), metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
			if err != nil {
				t.Fatalf("create the foreign FlinkDeployment: %v", err)
			}
			auditAt := fe.auditLogEnd(t)
			conflictsBefore, _ := metric(t, fe.fg, "flinkgate_reconcile_errors_total", `reason="conflict"`)
			fe.createDeployment(t, dep, target, jarURI(1), "RUNNING")
			waitUntil(t, waitFor, "a "+reasonConflict+" event on the Deployment", func() (bool, string) {
				n, _ := fe.eventCount(t, dep, reasonConflict)
				return n > 0, "no such event"
			})
			_, msg := fe.eventCount(t, dep, reasonConflict)
			t.Logf("event %s: %s", reasonConflict, msg)
			if !strings.Contains(msg, dep) {
				t.Errorf("the conflict event %q does not name the FlinkDeployment %s", msg, dep)
			}
			if got, _ := metric(t, fe.fg, "flinkgate_reconcile_errors_total", `reason="conflict"`); got <= conflictsBefore {
				t.Errorf(`flinkgate_reconcile_errors_total{reason="conflict"} is %v, was %v`, got, conflictsBefore)
			}
			fe.wantUntouched(t, foreign, auditAt)

			// Deleting the Deployment deletes nothing of someone else's.
			if err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Delete(ctx, dep, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, waitFor, "the Deployment's ConfigMap to go", func() (bool, string) {
				return fe.configMap(t, dep) == nil, "it is still there"
			})
			fe.wantUntouched(t, foreign, auditAt)
		})
	}
}

// wantUntouched checks that flinkgate wrote nothing to the FlinkDeployment
// since the audit log's offset auditAt.
func (fe *flinkEnv) wantUntouched(t *testing.T, was *unstructured.Unstructured, auditAt int64) {
	t.Helper()
	now := fe.flinkDeployment(t, was.GetNamespace(), was.GetName())
	if now == nil {
		t.Fatalf("the FlinkDeployment %s/%s is gone", was.GetNamespace(), was.GetName())
	}
	if now.GetUID() != was.GetUID() || now.GetResourceVersion() != was.GetResourceVersion() {
		t.Errorf("the FlinkDeployment changed: uid %s, resourceVersion %s; was %s, %s", now.GetUID(), now.GetResourceVersion(), was.GetUID(), was.GetResourceVersion())
	}
	// A refused attempt changes nothing (a create that finds the name
	// taken is how a reconciler whose cache holds only its own labelled
	// objects learns of a foreign one); a write that succeeded is adoption.
	writes, _ := fe.flinkDeploymentWrites(t, auditAt)
	for _, w := range writes {
		if w.ObjectRef.Name == was.GetName() && w.ResponseStatus.Code < 300 {
			t.Errorf("audit: %s; flinkgate must write nothing to a FlinkDeployment it did not make", w)
		}
	}
}

// without returns rules less the verbs of resource in flink.apache.org
// (all of them when none are given); a rule left without verbs is dropped.
func without(rules []rbacv1.PolicyRule, resource string, verbs ...string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		if slices.Equal(r.APIGroups, []string{"flink.apache.org"}) && slices.Contains(r.Resources, resource) {
			r = *r.DeepCopy()
			if len(verbs) == 0 {
				r.Verbs = nil
			} else {
				r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return slices.Contains(verbs, v) })
			}
		}
		if len(r.Verbs) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// The steps of TestEachFlinkRuleOfThePlatformsRoleIsNeeded, by name.
const (
	stepPreflight = "creating the target draws no warning from the RBAC preflight"
	stepCreate    = "the Deployment becomes a FlinkDeployment"
	stepUpdate    = "a new jar reaches the FlinkDeployment"
	stepDelete    = "deleting the Deployment deletes its FlinkDeployment, then the ConfigMap"
)

// With each flink.apache.org permission of the platform's Role taken away
// in turn, a named step fails, visibly: the preflight warns when the target
// is created (it runs with --rbac-preflight=warn, so the target is
// admitted and the reconciler's own failure shows too), and a write the
// platform may not make is a FlinkDeploymentFailed event. Reads are
// flinkgate's own, so a missing read permission shows only in the
// preflight. The first row, with every rule, shows that every step can pass.
func TestEachFlinkRuleOfThePlatformsRoleIsNeeded(t *testing.T) {
	fe := startFlinkEnv(t, "flink-rules", flinkEnvOptions{preflight: rbac.ModeWarn})
	for _, tc := range []struct {
		name    string
		rules   []rbacv1.PolicyRule
		missing string   // what the preflight's warning names
		fails   []string // the steps that fail
	}{
		{name: "with every rule, every step passes", rules: platformRules()},
		{
			name:  "without create on flinkdeployments, the FlinkDeployment is not created",
			rules: without(platformRules(), "flinkdeployments", "create"), missing: "flink.apache.org/flinkdeployments",
			fails: []string{stepPreflight, stepCreate},
		},
		{
			name:  "without patch on flinkdeployments, the server-side apply of a new jar is refused",
			rules: without(platformRules(), "flinkdeployments", "patch"), missing: "flink.apache.org/flinkdeployments",
			fails: []string{stepPreflight, stepUpdate},
		},
		{
			name:  "without delete on flinkdeployments, the Deployment's deletion waits",
			rules: without(platformRules(), "flinkdeployments", "delete"), missing: "flink.apache.org/flinkdeployments",
			fails: []string{stepPreflight, stepDelete},
		},
		{
			name:  "without get, list and watch on flinkdeployments, only the preflight objects (flinkgate reads as itself)",
			rules: without(platformRules(), "flinkdeployments", "get", "list", "watch"), missing: "flink.apache.org/flinkdeployments",
			fails: []string{stepPreflight},
		},
		{
			name:  "without update on flinkdeployments, only the preflight objects (writes are creates, applies and deletes)",
			rules: without(platformRules(), "flinkdeployments", "update"), missing: "flink.apache.org/flinkdeployments",
			fails: []string{stepPreflight},
		},
		{
			name:  "without get on flinkdeployments/status, only the preflight objects (flinkgate reads as itself)",
			rules: without(platformRules(), "flinkdeployments/status"), missing: "flink.apache.org/flinkdeployments/status",
			fails: []string{stepPreflight},
		},
		{
			name:  "without flinkstatesnapshots, only the preflight objects (flinkgate reads as itself)",
			rules: without(platformRules(), "flinkstatesnapshots"), missing: "flink.apache.org/flinkstatesnapshots",
			fails: []string{stepPreflight},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := fe.addTargetNamespace(t, func(string) []rbacv1.PolicyRule { return tc.rules })
			dep := name("rules")
			var target string
			failed := map[string]string{}
			check := func(step string, err error) {
				if err != nil {
					failed[step] = err.Error()
				}
			}

			var warned []string
			target, warned = fe.createTarget(t, ns)
			if len(warned) > 0 {
				check(stepPreflight, fmt.Errorf("warned: %q", warned))
			}
			check(stepCreate, fe.stepOutcome(t, dep, func() {
				fe.createDeployment(t, dep, target, jarURI(1), "RUNNING")
			}, func() (bool, string) {
				return fe.flinkDeployment(t, ns, dep) != nil, "no FlinkDeployment"
			}))
			if _, ok := failed[stepCreate]; !ok {
				check(stepUpdate, fe.stepOutcome(t, dep, func() {
					fe.updateDeployment(t, dep, target, jarURI(2), "RUNNING")
				}, func() (bool, string) {
					got, _, _ := unstructured.NestedString(fe.flinkDeployment(t, ns, dep).Object, "spec", "job", "jarURI")
					return got == jarURI(2), "spec.job.jarURI is " + got
				}))
			}
			check(stepDelete, fe.stepOutcome(t, dep, func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				if err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Delete(ctx, dep, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}, func() (bool, string) {
				fdGone, cmGone := fe.flinkDeployment(t, ns, dep) == nil, fe.configMap(t, dep) == nil
				return fdGone && cmGone, fmt.Sprintf("FlinkDeployment gone: %t, ConfigMap gone: %t", fdGone, cmGone)
			}))

			for _, s := range []string{stepPreflight, stepCreate, stepUpdate, stepDelete} {
				why, didFail := failed[s]
				switch wantFail := slices.Contains(tc.fails, s); {
				case wantFail && !didFail:
					t.Errorf("step %q passed; want it to fail without these permissions", s)
				case !wantFail && didFail:
					t.Errorf("step %q failed: %s", s, why)
				case didFail:
					t.Logf("step %q failed, as it must: %s", s, why)
				}
			}
			if why, ok := failed[stepPreflight]; ok && !strings.Contains(why, tc.missing) {
				t.Errorf("the preflight's warning %s does not name %s", why, tc.missing)
			}

			// Give the permissions back: a Deployment whose deletion
			// waited goes, so nothing is left behind.
			if fe.configMap(t, dep) != nil {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				if err := fe.c.GrantRole(ctx, ns, fe.platformRole(), fe.platform, platformRules()); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, waitFor, "the waiting deletion to finish once the Role is whole again", func() (bool, string) {
					fdGone, cmGone := fe.flinkDeployment(t, ns, dep) == nil, fe.configMap(t, dep) == nil
					return fdGone && cmGone, fmt.Sprintf("FlinkDeployment gone: %t, ConfigMap gone: %t", fdGone, cmGone)
				})
			}
		})
	}
}

// stepOutcome does act and waits until done holds (nil: the step passed)
// or flinkgate reports a FlinkDeploymentFailed event on the Deployment
// (the error: the step failed, visibly). Neither within waitFor fails the
// test: a refused write must show.
func (fe *flinkEnv) stepOutcome(t *testing.T, dep string, act func(), done func() (bool, string)) error {
	t.Helper()
	before, _ := fe.eventCount(t, dep, reasonFailed)
	forbiddenBefore, _ := metric(t, fe.fg, "flinkgate_reconcile_errors_total", `reason="forbidden"`)
	act()
	var failure error
	waitUntil(t, waitFor, "the step to pass or a "+reasonFailed+" event", func() (bool, string) {
		if ok, why := done(); ok {
			return true, ""
		} else if n, msg := fe.eventCount(t, dep, reasonFailed); n > before {
			failure = fmt.Errorf("event %s: %s", reasonFailed, msg)
			return true, ""
		} else {
			return false, why
		}
	})
	if failure != nil {
		if got, _ := metric(t, fe.fg, "flinkgate_reconcile_errors_total", `reason="forbidden"`); got <= forbiddenBefore {
			t.Errorf(`after %v, flinkgate_reconcile_errors_total{reason="forbidden"} is %v, was %v`, failure, got, forbiddenBefore)
		}
	}
	return failure
}
