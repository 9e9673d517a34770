package flinkcluster

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
)

func TestANewDeploymentGetsTheFinalizerAndAFlinkDeploymentInItsTargetsNamespace(t *testing.T) {
	fresh := deploymentCM("job", "uid-1", document("job", ""))
	fresh.Finalizers = nil
	f := newFixture(t, []*corev1.ConfigMap{fresh})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	cm := f.cm("job")
	if !resource.HasFinalizer(cm.Finalizers, Finalizer) {
		t.Errorf("finalizers = %v, want %s", cm.Finalizers, Finalizer)
	}
	// The finalizer's write may have passed the mutating webhook again:
	// what is translated is read from its event, not from before it.
	if got := f.writeLog; !slices.Equal(got, []string{"update configmaps"}) {
		t.Fatalf("writes of the first sync = %v, want only the finalizer's update", got)
	}
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	cm = f.cm("job")
	fd := f.fd(targetNS, "job")
	if fd == nil {
		t.Fatalf("no FlinkDeployment %s/job", targetNS)
	}
	want := map[string]string{flinkop.LabelDeploymentNamespace: depNS, flinkop.LabelDeploymentName: "job", flinkop.LabelDeploymentUID: "uid-1"}
	for k, v := range want {
		if fd.GetLabels()[k] != v {
			t.Errorf("label %s = %q, want %q", k, fd.GetLabels()[k], v)
		}
	}
	if refs := fd.GetOwnerReferences(); len(refs) > 0 {
		t.Errorf("ownerReferences = %v, want none", refs)
	}
	if fd.GetAnnotations()[AnnotationSpecHash] == "" {
		t.Errorf("no %s annotation", AnnotationSpecHash)
	}
	if got := cm.Annotations[AnnotationState]; got != StateTransitioning {
		t.Errorf("state = %q, want %s", got, StateTransitioning)
	}
	if events := f.drainEvents(); !hasEvent(events, "Normal", EventCreated) {
		t.Errorf("events = %v, want %s", events, EventCreated)
	}
	// The finalizer came before the FlinkDeployment.
	order := f.writeLog
	if len(order) < 2 || order[0] != "update configmaps" || order[1] != "create flinkdeployments" {
		t.Errorf("writes = %v, want the finalizer's update first, then the create", order)
	}
	if got := testutil.ToFloat64(f.r.cfg.Metrics.deployments.WithLabelValues(StateTransitioning)); got != 1 {
		t.Errorf("flinkgate_flink_deployments{state=TRANSITIONING} = %v, want 1", got)
	}
}

func TestAFlinkDeploymentThatIsNotTheDeploymentsIsNeverAdopted(t *testing.T) {
	cases := []struct {
		name     string
		existing *unstructured.Unstructured
	}{
		{name: "One labelled for another Deployment's UID is a conflict.", existing: labelled(targetNS, "job", "job", "uid-of-an-older-job")},
		{name: "One not labelled at all is a conflict.", existing: labelled(targetNS, "job", "", "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, tc.existing)
			_, err := f.sync("job")
			var fl *failure
			if !errorsAs(err, &fl) || fl.reason != ReasonConflict || fl.retry {
				t.Fatalf("sync = %v, want a conflict that is not retried", err)
			}
			f.r.failed(depNS+"/job", fl)
			fd := f.fd(targetNS, "job")
			if !equalJSON(fd.Object, tc.existing.Object) {
				t.Errorf("the FlinkDeployment changed: %v", fd.Object)
			}
			for _, a := range f.dyn.Actions() {
				if v := a.GetVerb(); v == "patch" || v == "update" || v == "delete" {
					t.Errorf("unexpected %s of %s", v, a.GetResource().Resource)
				}
			}
			if got := f.errorsOf(ReasonConflict); got != 1 {
				t.Errorf("errors{reason=conflict} = %v, want 1", got)
			}
			if events := f.drainEvents(); !hasEvent(events, "Warning", EventConflict) {
				t.Errorf("events = %v, want %s", events, EventConflict)
			}
		})
	}
}

func TestStatusOnlyChangesWriteNoFlinkDeploymentSpec(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	before := f.writes()
	states := []string{"RUNNING", "RESTARTING", "FAILING", "RUNNING"}
	for i := range 100 {
		f.setStatus(targetNS, "job", map[string]any{"jobStatus": map[string]any{"state": states[i%len(states)], "jobId": "j"}, "lifecycleState": "STABLE"})
		if _, err := f.sync("job"); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.writes() - before; got != 0 {
		t.Errorf("%d FlinkDeployment writes after 100 status-only changes, want 0", got)
	}
	if got := f.cm("job").Annotations[AnnotationState]; got != StateRunning {
		t.Errorf("state = %q, want RUNNING", got)
	}
	if events := f.drainEvents(); !hasEvent(events, "Normal", EventStateChanged) {
		t.Errorf("events = %v, want %s", events, EventStateChanged)
	}
}

func TestTheStateAnnotationsAreWrittenOnlyWhenTheyChange(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	f.setStatus(targetNS, "job", map[string]any{"jobStatus": map[string]any{"state": "RUNNING", "jobId": "j"}})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	for range 3 {
		if _, err := f.sync("job"); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" {
			t.Errorf("unexpected %s of %s with nothing changed", a.GetVerb(), a.GetResource().Resource)
		}
	}
	cm := f.cm("job")
	if want := `{"jobId":"j","jobState":"RUNNING"}`; cm.Annotations[AnnotationStatus] != want {
		t.Errorf("status = %s, want %s", cm.Annotations[AnnotationStatus], want)
	}
}

func TestAFieldRemovedFromTheDocumentDisappearsFromTheFlinkDeployment(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", "        entryClass: org.example.Job\n"))})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(f.fd(targetNS, "job").Object, "spec", "job", "entryClass"); v != "org.example.Job" {
		t.Fatalf("entryClass = %q before the change", v)
	}
	uid := f.fd(targetNS, "job").GetUID()
	cm := withDoc(f.cm("job"), document("job", ""))
	if _, err := f.client.CoreV1().ConfigMaps(depNS).Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.dyn.ClearActions()
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	var applied []string
	for _, a := range f.dyn.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			applied = append(applied, string(p.GetPatchType())+" "+string(p.GetPatch()))
			if opts := p.PatchOptions; opts.FieldManager != FieldManager || opts.Force == nil || !*opts.Force || opts.FieldValidation != "Strict" {
				t.Errorf("apply options = %+v, want manager %s, force, strict", opts, FieldManager)
			}
		}
		if a.GetVerb() == "create" || a.GetVerb() == "delete" || a.GetVerb() == "update" {
			t.Errorf("unexpected %s: a spec change is one apply", a.GetVerb())
		}
	}
	if len(applied) != 1 || !strings.HasPrefix(applied[0], "application/apply-patch+yaml ") || strings.Contains(applied[0], "entryClass") {
		t.Fatalf("patches = %v, want one apply of the whole object without entryClass", applied)
	}
	fd := f.fd(targetNS, "job")
	if _, found, _ := unstructured.NestedFieldNoCopy(fd.Object, "spec", "job", "entryClass"); found {
		t.Errorf("entryClass is still in the FlinkDeployment")
	}
	if fd.GetUID() != uid {
		t.Errorf("uid = %s, want the same FlinkDeployment %s", fd.GetUID(), uid)
	}
	if events := f.drainEvents(); !hasEvent(events, "Normal", EventUpdated) {
		t.Errorf("events = %v, want %s", events, EventUpdated)
	}
}

// deletingWithTheOperatorsFinalizer is a fixture whose Deployment "job"
// has a FlinkDeployment the operator's finalizer holds, and has just been
// deleted by the user.
func deletingWithTheOperatorsFinalizer(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))})
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	fd := f.fd(targetNS, "job")
	fd.SetFinalizers([]string{"flinkdeployments.flink.apache.org/finalizer"})
	if err := f.dyn.Tracker().Update(FlinkDeployments, fd, targetNS); err != nil {
		t.Fatal(err)
	}
	// The API server marks the Deployment.
	cm := f.cm("job")
	now := metav1.Now()
	cm.DeletionTimestamp = &now
	if err := f.client.Tracker().Update(cmGVR, cm, depNS); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestADeletionWaitingOnTheOperatorIsLookedAtLessAndLessOftenUpToAMinute(t *testing.T) {
	f := deletingWithTheOperatorsFinalizer(t)
	var got []time.Duration
	for range 7 {
		after, err := f.sync("job")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, after)
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	if !slices.Equal(got, want) {
		t.Errorf("looks again after %v, want %v", got, want)
	}
}

func TestTheNextWaitStartsAgainFromTwoSecondsOnceADeploymentNoLongerWaits(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))})
	key := depNS + "/job"
	for range 3 {
		f.r.deleteWaits.When(key) // an earlier wait, now over
	}
	f.refresh()
	f.r.queue.Add(key)
	f.r.next(context.Background())
	if n := f.r.deleteWaits.NumRequeues(key); n != 0 {
		t.Errorf("after a sync that does not wait, %d earlier looks still count; want 0", n)
	}
}

func TestADeletedDeploymentGoesOnlyAfterItsFlinkDeploymentIsGone(t *testing.T) {
	f := deletingWithTheOperatorsFinalizer(t)
	for i := range 2 {
		after, err := f.sync("job")
		if err != nil {
			t.Fatal(err)
		}
		if after <= 0 {
			t.Errorf("sync %d asks for no look again while the FlinkDeployment exists", i)
		}
		if fd := f.fd(targetNS, "job"); fd == nil || fd.GetDeletionTimestamp() == nil {
			t.Fatalf("sync %d: FlinkDeployment = %v, want it marked deleted", i, fd)
		}
		if !resource.HasFinalizer(f.cm("job").Finalizers, Finalizer) {
			t.Fatalf("sync %d removed %s while the FlinkDeployment exists", i, Finalizer)
		}
	}
	deletes := 0
	for _, a := range f.dyn.Actions() {
		if a.GetVerb() == "delete" {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes of the FlinkDeployment, want 1", deletes)
	}
	// The operator is done: the FlinkDeployment is gone.
	if err := f.dyn.Tracker().Delete(FlinkDeployments, targetNS, "job"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if got := f.cm("job").Finalizers; slices.Contains(got, Finalizer) {
		t.Errorf("finalizers = %v, want %s removed", got, Finalizer)
	}
	if del, last := slices.Index(f.writeLog, "delete flinkdeployments"), len(f.writeLog)-1; del < 0 || f.writeLog[last] != "update configmaps" || del > last {
		t.Errorf("writes = %v, want the FlinkDeployment's delete before the finalizer's removal, which comes last", f.writeLog)
	}
	if events := f.drainEvents(); !hasEvent(events, "Normal", EventDeleted) {
		t.Errorf("events = %v, want %s", events, EventDeleted)
	}
}

func TestTheSweepDeletesOnlyOrphans(t *testing.T) {
	cases := []struct {
		name    string
		fd      *unstructured.Unstructured
		deleted bool
	}{
		{name: "A FlinkDeployment whose Deployment is gone is deleted.", fd: labelled(targetNS, "gone", "gone", "uid-gone"), deleted: true},
		{name: "A FlinkDeployment of a Deployment deleted and created anew is deleted.", fd: labelled(targetNS, "job", "job", "uid-old"), deleted: true},
		{name: "A FlinkDeployment not where the Deployment's target puts it is deleted.", fd: labelled("elsewhere", "job", "job", "uid-1"), deleted: true},
		{name: "A FlinkDeployment of a live Deployment stays.", fd: labelled(targetNS, "job", "job", "uid-1")},
		{name: "A FlinkDeployment of a Deployment in a namespace flinkgate does not serve stays.", fd: func() *unstructured.Unstructured {
			u := labelled(targetNS, "other", "other", "uid-x")
			l := u.GetLabels()
			l[flinkop.LabelDeploymentNamespace] = "not-served"
			u.SetLabels(l)
			return u
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, tc.fd)
			f.r.sweep(context.Background())
			gone := f.fd(tc.fd.GetNamespace(), tc.fd.GetName()) == nil
			if gone != tc.deleted {
				t.Errorf("deleted = %t, want %t", gone, tc.deleted)
			}
		})
	}
}

func TestTheSweepTrustsNoStaleCache(t *testing.T) {
	// The cache has not seen the Deployment yet; the API server has it.
	f := newFixture(t, nil, labelled(targetNS, "job", "job", "uid-1"))
	if _, err := f.client.CoreV1().ConfigMaps(depNS).Create(context.Background(), deploymentCM("job", "uid-1", document("job", "")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.r.sweep(context.Background())
	if f.fd(targetNS, "job") == nil {
		t.Errorf("the sweep deleted the FlinkDeployment of a Deployment the cache had not seen yet")
	}
}

func TestFailuresAreCountedAndReportedOnce(t *testing.T) {
	refuse := func(err error) func(*fixture) {
		return func(f *fixture) {
			f.dyn.PrependReactor("create", "flinkdeployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, err
			})
		}
	}
	// The API server's own words for each refusal.
	forbid := refuse(apierrors.NewForbidden(FlinkDeployments.GroupResource(), "job",
		errors.New(`User "system:serviceaccount:vvp:appmanager" cannot create resource "flinkdeployments" in API group "flink.apache.org" in the namespace "team-a"`)))
	webhookDenied := refuse(&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `admission webhook "flinkoperator.flink.apache.org" denied the request: Job parallelism must be larger than 0`}})
	terminating := refuse(&apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `flinkdeployments.flink.apache.org "job" is forbidden: unable to create new content in namespace team-a because it is being terminated`,
		Details: &metav1.StatusDetails{Name: "job", Group: "flink.apache.org", Kind: "flinkdeployments",
			Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Message: "namespace team-a is being terminated", Field: "metadata.namespace"}}}}})
	strict := func(f *fixture) {
		f.dyn.PrependReactor("create", "flinkdeployments", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewBadRequest(`strict decoding error: unknown field "spec.job.savepointRedeployNonce"`)
		})
	}
	cases := []struct {
		name   string
		doc    string
		setup  func(*fixture)
		reason string
		retry  bool
		// hint: whether the message names the platform Role's rules.
		hint bool
	}{
		{name: "A FlinkDeployment the API server's strict validation refuses is invalid, not retried.", doc: document("job", ""), setup: strict, reason: ReasonInvalid},
		{name: "A document with no FlinkDeployment counterpart is a translate failure, not retried.", doc: document("job", "        additionalDependencies: [s3://x.jar]\n"), reason: ReasonTranslate},
		{name: "A create the platform may not make is forbidden, retried, with the Role's rules named.", doc: document("job", ""), setup: forbid, reason: ReasonForbidden, retry: true, hint: true},
		{name: "A create an admission webhook denies is admission_denied, not retried, without the RBAC hint.", doc: document("job", ""), setup: webhookDenied, reason: ReasonAdmissionDenied},
		{name: "A create in a namespace being deleted is namespace_terminating, not retried, without the RBAC hint.", doc: document("job", ""), setup: terminating, reason: ReasonNamespaceTerminating},
		{name: "A document the mutating webhook did not patch (no digest) is unpatched, not retried.", doc: document("job", ""), setup: func(f *fixture) {
			f.editCM("job", func(c *corev1.ConfigMap) { delete(c.Annotations, resource.AnnotationDigest) })
		}, reason: ReasonUnpatched},
		{name: "A document rewritten after the mutating webhook (digest of another document) is unpatched, not retried.", doc: document("job", ""), setup: func(f *fixture) {
			f.editCM("job", func(c *corev1.ConfigMap) {
				c.Data[resource.DataKey] = document("job", "        entryClass: org.example.Injected\n")
			})
		}, reason: ReasonUnpatched},
		{name: "A document patched for another target (a digest of another target's UID) is unpatched, not retried.", doc: document("job", ""), setup: func(f *fixture) {
			f.editCM("job", func(c *corev1.ConfigMap) {
				c.Annotations[resource.AnnotationDigest] = resource.Digest(&resource.Target{UID: "an-older-staging"}, c.Data[resource.DataKey])
			})
		}, reason: ReasonUnpatched},
		{name: "A Deployment without the target-namespace annotation is unpatched, not retried.", doc: document("job", ""), setup: func(f *fixture) {
			f.editCM("job", func(c *corev1.ConfigMap) { delete(c.Annotations, resource.AnnotationTargetNamespace) })
		}, reason: ReasonUnpatched},
		{name: "A Deployment stored for the platform namespace (admitted before the operator was on) is platform_namespace, not retried, and writes nothing.", doc: document("job", ""), setup: func(f *fixture) {
			f.editCM("job", func(c *corev1.ConfigMap) {
				c.Annotations[resource.AnnotationTargetNamespace] = f.r.cfg.PlatformNamespace
			})
		}, reason: ReasonPlatformNamespace},
		{name: "A target created before the operator was on (no flink-authorized annotation) is target_unauthorized, not retried, and nothing is written.", doc: document("job", ""), setup: func(f *fixture) {
			f.r.cfg.Targets = fakeTargets{"staging": {Name: "staging", Namespace: targetNS, UID: stagingUID}}
		}, reason: ReasonTargetUnauthorized},
		{name: "A target that does not exist is target_missing, retried.", doc: strings.Replace(document("job", ""), "staging", "gone", 1), reason: ReasonTargetMissing, retry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := deploymentCM("job", "uid-1", tc.doc)
			f := newFixture(t, []*corev1.ConfigMap{cm})
			if tc.setup != nil {
				tc.setup(f)
			}
			for range 3 {
				_, err := f.sync("job")
				var fl *failure
				if !errorsAs(err, &fl) || fl.reason != tc.reason || fl.retry != tc.retry {
					t.Fatalf("sync = %v, want reason %s, retry %t", err, tc.reason, tc.retry)
				}
				if hint := strings.Contains(fl.Error(), "flinkOperator.enabled"); hint != tc.hint {
					t.Fatalf("sync = %v: RBAC hint %t, want %t", err, hint, tc.hint)
				}
				f.r.failed(depNS+"/job", fl)
			}
			if got := f.errorsOf(tc.reason); got != 3 {
				t.Errorf("errors{reason=%s} = %v, want 3", tc.reason, got)
			}
			n := 0
			for _, e := range f.drainEvents() {
				if strings.HasPrefix(e, "Warning "+EventFailed+" ") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d %s events for 3 equal failures, want 1", n, EventFailed)
			}
			if (tc.setup == nil || tc.reason == ReasonUnpatched || tc.reason == ReasonPlatformNamespace) && f.writes() != 0 {
				t.Errorf("%d FlinkDeployment writes, want 0", f.writes())
			}
			// The webhooks would deny any write of a Deployment whose target is missing.
			if (tc.reason == ReasonTargetMissing || tc.reason == ReasonTargetUnauthorized) && len(f.writeLog) != 0 {
				t.Errorf("writes = %v with the target missing, want none", f.writeLog)
			}
		})
	}
}

func TestADeploymentWhoseTargetNowRunsElsewhereMovesItsFlinkDeployment(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, labelled("old-home", "job", "job", "uid-1"))
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if f.fd(targetNS, "job") == nil {
		t.Errorf("no FlinkDeployment in the target's namespace %s", targetNS)
	}
	if f.fd("old-home", "job") != nil {
		t.Errorf("the FlinkDeployment in the old namespace is still there")
	}
}

func TestAConflictingWriteOfTheDeploymentIsRetriedWithoutCountingAFailure(t *testing.T) {
	fresh := deploymentCM("job", "uid-1", document("job", ""))
	fresh.Finalizers = nil
	f := newFixture(t, []*corev1.ConfigMap{fresh})
	f.client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(cmGVR.GroupResource(), "job", nil)
	})
	f.r.queue.Add(depNS + "/job")
	if !f.r.next(context.Background()) {
		t.Fatal("the queue is shut down")
	}
	for _, r := range Reasons {
		if got := f.errorsOf(r); got != 0 {
			t.Errorf("errors{reason=%s} = %v after a conflict, want 0", r, got)
		}
	}
	if n := f.r.queue.NumRequeues(depNS + "/job"); n != 1 {
		t.Errorf("requeues = %d, want 1 (with backoff)", n)
	}
	if events := f.drainEvents(); len(events) != 0 {
		t.Errorf("events = %v after a conflict, want none", events)
	}
}

func TestADeploymentGoneWithoutTheFinalizerLosesItsFlinkDeploymentAtOnce(t *testing.T) {
	// The finalizer was removed by hand, or the Deployment went while the
	// reconciler was off: its delete event finds the FlinkDeployment.
	f := newFixture(t, nil, labelled(targetNS, "job", "job", "uid-1"))
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if f.fd(targetNS, "job") != nil {
		t.Errorf("the FlinkDeployment of a Deployment that is gone is still there")
	}
	if got := testutil.ToFloat64(f.r.cfg.Metrics.deployments.WithLabelValues(StateUnknown)); got != 0 {
		t.Errorf("flinkgate_flink_deployments{state=UNKNOWN} = %v for a Deployment that is gone, want 0", got)
	}
}

func TestTheFlinkDeploymentGoesWhereTheStoredAnnotationSaysNotWhereALiveLookUpSays(t *testing.T) {
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))})
	// The live target says elsewhere (the cache may lag, or know a newer
	// target); the webhook stored team-a with the document it admitted.
	f.r.cfg.Targets = fakeTargets{"staging": {Name: "staging", Namespace: "elsewhere", UID: stagingUID, FlinkAuthorized: true}}
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if f.fd(targetNS, "job") == nil {
		t.Errorf("no FlinkDeployment in %s, the namespace the annotation %s names", targetNS, resource.AnnotationTargetNamespace)
	}
	if f.fd("elsewhere", "job") != nil {
		t.Errorf("a FlinkDeployment in the live target's namespace, not the annotation's")
	}
}

func TestTheLoserOfANameIsReconciledAgainWhenTheWinnersFlinkDeploymentIsDeleted(t *testing.T) {
	winner := labelled(targetNS, "job", "job", "uid-of-another-job")
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, winner)
	_, err := f.sync("job")
	var fl *failure
	if !errorsAs(err, &fl) || fl.reason != ReasonConflict {
		t.Fatalf("sync = %v, want a conflict", err)
	}
	// A FlinkDeployment of another name goes: nobody waits for it.
	unrelated := labelled(targetNS, "unrelated", "unrelated", "uid-u")
	l := unrelated.GetLabels()
	l[flinkop.LabelDeploymentNamespace] = "not-served"
	unrelated.SetLabels(l)
	f.r.fdHandler().OnDelete(unrelated)
	if n := f.r.queue.Len(); n != 0 {
		t.Errorf("queue length = %d after an unrelated delete, want 0", n)
	}
	// The winner's FlinkDeployment goes (its informer's delete event).
	if err := f.dyn.Tracker().Delete(FlinkDeployments, targetNS, "job"); err != nil {
		t.Fatal(err)
	}
	f.r.fdHandler().OnDelete(winner)
	eventually(t, 5*time.Second, "the loser enqueued", func() bool { return f.r.queue.Len() == 1 })
	if key, _ := f.r.queue.Get(); key != depNS+"/job" {
		t.Fatalf("enqueued %q, want %s/job", key, depNS)
	} else {
		f.r.queue.Done(key)
	}
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	if fd := f.fd(targetNS, "job"); fd == nil || !ownedBy(fd, depNS, "job", "uid-1") {
		t.Errorf("FlinkDeployment = %v, want the loser's now", fd)
	}
}

func TestAFlinkDeploymentLabelledForTheDeploymentWhereThePlatformMayNotDeleteHoldsNothingUp(t *testing.T) {
	// Anyone who may create FlinkDeployments in some namespace can label one
	// for another's Deployment (its UID is readable); the platform may not
	// delete it there, so flinkgate never wrote it.
	const elsewhere = "mallory"
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, labelled(elsewhere, "job", "job", "uid-1"))
	f.dyn.PrependReactor("delete", "flinkdeployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != elsewhere {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(FlinkDeployments.GroupResource(), "job",
			errors.New(`User "system:serviceaccount:vvp:appmanager" cannot delete resource "flinkdeployments" in API group "flink.apache.org" in the namespace "mallory"`))
	})
	if _, err := f.sync("job"); err != nil {
		t.Fatalf("reconcile = %v, want the Deployment reconciled despite the FlinkDeployment in %s", err, elsewhere)
	}
	if got := f.cm("job").Annotations[AnnotationState]; got == "" {
		t.Errorf("no %s written", AnnotationState)
	}
	// The user deletes the Deployment: it goes once its own FlinkDeployment is gone.
	cm := f.cm("job")
	now := metav1.Now()
	cm.DeletionTimestamp = &now
	if err := f.client.Tracker().Update(cmGVR, cm, depNS); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3 && resource.HasFinalizer(f.cm("job").Finalizers, Finalizer); i++ {
		if _, err := f.sync("job"); err != nil {
			t.Fatalf("release sync %d = %v, want the Deployment released despite the FlinkDeployment in %s", i, err, elsewhere)
		}
	}
	if resource.HasFinalizer(f.cm("job").Finalizers, Finalizer) {
		t.Errorf("%s is still on the Deployment", Finalizer)
	}
	if f.fd(targetNS, "job") != nil {
		t.Errorf("the Deployment's own FlinkDeployment is still there")
	}
}

func TestADeletedDeploymentDoesNotWaitForAnotherNamesFlinkDeploymentLabelledForIt(t *testing.T) {
	// A co-tenant of the target namespace labels a FlinkDeployment of
	// another name for the Deployment, with a finalizer that never goes,
	// and deletes it: it stays terminating for ever.
	held := labelled(targetNS, "squatter", "job", "uid-1")
	held.SetFinalizers([]string{"example.com/never"})
	now := metav1.Now()
	held.SetDeletionTimestamp(&now)
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, held)
	if _, err := f.sync("job"); err != nil {
		t.Fatal(err)
	}
	cm := f.cm("job")
	cm.DeletionTimestamp = &now
	if err := f.client.Tracker().Update(cmGVR, cm, depNS); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3 && resource.HasFinalizer(f.cm("job").Finalizers, Finalizer); i++ {
		if _, err := f.sync("job"); err != nil {
			t.Fatalf("release sync %d = %v", i, err)
		}
	}
	if resource.HasFinalizer(f.cm("job").Finalizers, Finalizer) {
		t.Errorf("%s is still on the Deployment: the release waits for %s/squatter", Finalizer, targetNS)
	}
}

func TestARefusedDeleteOfAFlinkDeploymentElsewhereIsNotRepeatedBeforeTheSweep(t *testing.T) {
	// Each update of such a FlinkDeployment enqueues the Deployment it is
	// labelled for; its owner may update it as often as it likes.
	const elsewhere = "mallory"
	f := newFixture(t, []*corev1.ConfigMap{deploymentCM("job", "uid-1", document("job", ""))}, labelled(elsewhere, "job", "job", "uid-1"))
	refused := 0
	f.dyn.PrependReactor("delete", "flinkdeployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != elsewhere {
			return false, nil, nil
		}
		refused++
		return true, nil, apierrors.NewForbidden(FlinkDeployments.GroupResource(), "job", errors.New("no"))
	})
	for range 3 {
		if _, err := f.sync("job"); err != nil {
			t.Fatal(err)
		}
	}
	if refused != 1 {
		t.Errorf("%d refused deletes of %s/job across three reconciles, want 1", refused, elsewhere)
	}
	f.r.sweep(context.Background())
	if refused != 2 {
		t.Errorf("%d refused deletes after the sweep, want 2: the sweep tries again", refused)
	}
}
