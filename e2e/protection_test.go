//go:build e2e

// The in-use protection proofs: terminating targets, replicas behind a
// proxy, forged reviews, namespace deletion. The storm with a leader kill
// is in protection_storm_test.go, the environment they share in
// protection_env_test.go.

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestTerminatingTargetTakesNoNewReferences: a foreign finalizer kept an
// unreferenced target Terminating, and a new deployment of it was admitted,
// left pointing at nothing once the finalizer went.
func TestTerminatingTargetTakesNoNewReferences(t *testing.T) {
	e := startProtection(t, 1, "protect")
	platformNS := e.ns[0]
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("a new target carries flinkgate's finalizer", func(t *testing.T) {
		cm, err := cms.Create(ctx, targetCM(platformNS, "staging"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cm.Finalizers, finalizer) {
			t.Fatalf("finalizers = %v, want %s", cm.Finalizers, finalizer)
		}
	})
	t.Run("a deployment created for a target that is being deleted is denied", func(t *testing.T) {
		cm, err := cms.Get(ctx, "staging", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Finalizers = append(cm.Finalizers, "example.com/keep")
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "staging", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting the unreferenced target: %v", err)
		}
		_, err = cms.Create(ctx, deploymentCM(platformNS, "late", "staging"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `target "staging" is being deleted; point the deployment at another target`) {
			t.Fatalf("create of a deployment of a terminating target: %v; want flinkgate's denial", err)
		}
	})
	t.Run("the controller releases its finalizer and leaves the foreign one to its owner", func(t *testing.T) {
		waitUntil(t, time.Minute, "flinkgate to release the unreferenced target", func() (bool, error) {
			cm, err := cms.Get(ctx, "staging", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return !slices.Contains(cm.Finalizers, finalizer) && slices.Contains(cm.Finalizers, "example.com/keep"), nil
		})
		_, err := cms.Create(ctx, deploymentCM(platformNS, "later", "staging"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "is being deleted") {
			t.Fatalf("create after the release: %v; want flinkgate's denial", err)
		}
	})
	t.Run("once the owner removes its finalizer the target is gone and no deployment points at it", func(t *testing.T) {
		cm, err := cms.Get(ctx, "staging", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Finalizers = nil
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 30*time.Second, "the target to be gone", gone(e.client, platformNS, "staging"))
		if d, err := danglingLive(e.client, platformNS); err != nil || len(d) > 0 {
			t.Fatalf("dangling deployments %v (%v)", d, err)
		}
	})
	t.Run("a plain user cannot strip the finalizer of a live target", func(t *testing.T) {
		if _, err := cms.Create(ctx, targetCM(platformNS, "kept"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Create(ctx, deploymentCM(platformNS, "user", "kept"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		cm, err := cms.Patch(ctx, "kept", types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cm.Finalizers, finalizer) {
			t.Fatalf("finalizers = %v after a user removed them; flinkgate's must stay", cm.Finalizers)
		}
	})
	t.Run("the dangling gauge is zero", func(t *testing.T) {
		waitUntil(t, 30*time.Second, "flinkgate_dangling_deployments to read 0", func() (bool, error) {
			v, ok := metric(t, e.fgs[0], "flinkgate_dangling_deployments", `namespace="`+platformNS+`"`)
			return ok && v == 0, nil
		})
	})
}

// TestReplicasCannotRaceADeploymentPastATargetDelete: with two replicas a
// deployment create and a target delete that reached different processes
// both succeeded, and the deployment was left pointing at nothing.
func TestReplicasCannotRaceADeploymentPastATargetDelete(t *testing.T) {
	e := startProtection(t, 2, "protect")
	platformNS := e.ns[0]
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	const pairs = 40
	var bothAdmitted atomic.Int32
	var wg sync.WaitGroup
	for i := range pairs {
		name := fmt.Sprintf("race-%d", i)
		ctx, cancel := opCtx()
		if _, err := cms.Create(ctx, targetCM(platformNS, name), metav1.CreateOptions{}); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := opCtx()
			defer cancel()
			start := make(chan struct{})
			var created, deleted error
			var inner sync.WaitGroup
			inner.Add(2)
			go func() {
				defer inner.Done()
				<-start
				_, created = cms.Create(ctx, deploymentCM(platformNS, "d-"+name, name), metav1.CreateOptions{})
			}()
			go func() { defer inner.Done(); <-start; deleted = cms.Delete(ctx, name, metav1.DeleteOptions{}) }()
			close(start)
			inner.Wait()
			if created == nil && deleted == nil {
				bothAdmitted.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d of %d create/delete pairs had both requests admitted; proxy connections per replica: %v", bothAdmitted.Load(), pairs, e.proxy.Connections())
	for i, fg := range e.fgs {
		if v, _ := metric(t, fg, "flinkgate_admission_requests_total"); v == 0 {
			t.Errorf("replica %d answered no admission request; the proxy did not spread the load", i)
		} else {
			t.Logf("replica %d answered %.0f admission requests", i, v)
		}
	}

	t.Run("no deployment references a missing target, even after the settle time", func(t *testing.T) {
		// The controller releases a deleted target once it has been unused
		// for the settle time; twice that and a second more lets every
		// release it may make happen, and none may leave a deployment
		// pointing at nothing at any look.
		within := 2*settleTime + time.Second
		if dangling, d := poll(within, func() (bool, error) {
			d, err := danglingLive(e.client, platformNS)
			if err == nil && len(d) > 0 {
				err = fmt.Errorf("deployments pointing at nothing: %v", d)
			}
			return err != nil, err
		}); dangling {
			t.Fatalf("within %s: %v", within, d)
		}
	})
	t.Run("once the deployments go, every deleted target is released", func(t *testing.T) {
		ctx, cancel := opCtx()
		defer cancel()
		if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "flinkgate.io/kind=Deployment"}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, time.Minute, "every terminating target to be released", func() (bool, error) {
			list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "flinkgate.io/kind=DeploymentTarget"})
			if err != nil {
				return false, err
			}
			for _, cm := range list.Items {
				if cm.DeletionTimestamp != nil {
					return false, fmt.Errorf("target %s is still terminating", cm.Name)
				}
			}
			return true, nil
		})
	})
	t.Run("the leader's dangling gauge is zero", func(t *testing.T) {
		l := e.leader(t, time.Minute)
		waitUntil(t, 30*time.Second, "flinkgate_dangling_deployments to read 0", func() (bool, error) {
			v, ok := metric(t, e.fgs[l], "flinkgate_dangling_deployments", `namespace="`+platformNS+`"`)
			return ok && v == 0, nil
		})
	})
}

// TestAFinalizerRemovedByHandWaitsForTheSettleTime: a user who deleted a
// target and at once removed its finalizer by hand skipped the settle time
// the controller waits, so a deployment admitted just before the delete
// could be stored after the target was gone.
func TestAFinalizerRemovedByHandWaitsForTheSettleTime(t *testing.T) {
	// Long enough that the denial below cannot race the settle time on a
	// busy machine; the controller releases nothing within the test.
	e := startProtectionSettling(t, 1, "--protection-settle=10m", "protect")
	platformNS := e.ns[0]
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cms.Create(ctx, targetCM(platformNS, "hand"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "hand", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting the unreferenced target: %v", err)
	}
	remove := []byte(`[{"op":"test","path":"/metadata/finalizers/0","value":"` + finalizer + `"},{"op":"remove","path":"/metadata/finalizers/0"}]`)
	_, err := cms.Patch(ctx, "hand", types.JSONPatchType, remove, metav1.PatchOptions{})
	if err == nil || !strings.Contains(err.Error(), `the finalizer flinkgate.io/in-use-protection of target "hand" cannot be removed yet`) ||
		!strings.Contains(err.Error(), "try again in") {
		t.Fatalf("removing the finalizer by hand right after the delete: %v; want flinkgate's denial naming the seconds left", err)
	}
	cm, err := cms.Get(ctx, "hand", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cm.Finalizers, finalizer) || cm.DeletionTimestamp == nil {
		t.Fatalf("target hand: finalizers %v, deletion %v; want it terminating and still protected", cm.Finalizers, cm.DeletionTimestamp)
	}
}

// TestForgedReviewsCannotChangeLaterAnswers: AdmissionReviews posted
// straight to the webhook port, as any pod could, fed a per-process memory
// that made targets undeletable or reopened the race.
func TestForgedReviewsCannotChangeLaterAnswers(t *testing.T) {
	e := startProtection(t, 1, "protect")
	platformNS := e.ns[0]
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{"free", "busy"} {
		if _, err := cms.Create(ctx, targetCM(platformNS, name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.fgs[0].CABundle())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	forge := func(path string, op admissionv1.Operation, old, obj *corev1.ConfigMap) {
		t.Helper()
		req := &admissionv1.AdmissionRequest{
			UID:       types.UID(fmt.Sprintf("forged-%d", time.Now().UnixNano())),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Namespace: platformNS, Operation: op,
		}
		for _, o := range []struct {
			cm  *corev1.ConfigMap
			raw *[]byte
		}{{old, &req.OldObject.Raw}, {obj, &req.Object.Raw}} {
			if o.cm != nil {
				*o.raw, _ = json.Marshal(o.cm)
				req.Name = o.cm.Name
			}
		}
		body, _ := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: req})
		resp, err := hc.Post(e.fgs[0].WebhookURL()+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("forged review got HTTP %d", resp.StatusCode)
		}
	}
	admitted := func(name, target string) *corev1.ConfigMap {
		d := deploymentCM(platformNS, name, target)
		d.Labels["flinkgate.io/deployment-target"] = target
		d.Annotations = map[string]string{"flinkgate.io/target-namespace": "staging"}
		return d
	}
	for i := range 200 {
		forge("/validate", admissionv1.Create, nil, admitted(fmt.Sprintf("ghost-%d", i), "free"))
		forge("/mutate", admissionv1.Create, nil, admitted(fmt.Sprintf("ghost-%d", i), "free"))
	}
	for range 20 {
		forge("/validate", admissionv1.Delete, targetCM(platformNS, "busy"), nil)
	}

	t.Run("a target that forged reviews say is referenced can be deleted", func(t *testing.T) {
		if err := cms.Delete(ctx, "free", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete of an unreferenced target after forged deployment reviews: %v", err)
		}
		waitUntil(t, time.Minute, "the target to be released and gone", gone(e.client, platformNS, "free"))
	})
	t.Run("a target that forged reviews say is deleted still takes deployments", func(t *testing.T) {
		if _, err := cms.Create(ctx, deploymentCM(platformNS, "real", "busy"), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create of a deployment after forged target deletes: %v", err)
		}
	})
	t.Run("and that target, now referenced, cannot be deleted", func(t *testing.T) {
		err := cms.Delete(ctx, "busy", metav1.DeleteOptions{})
		if err == nil || !strings.Contains(err.Error(), "is referenced by 1 deployment(s): real") {
			t.Fatalf("delete of a referenced target: %v; want flinkgate's denial naming real", err)
		}
	})
}

// TestDeletingNamespacesCompletes deletes a served namespace while flinkgate
// runs, then the platform namespace itself after flinkgate has gone down with
// it (as its pods would), and shows both deletions finish. The local control
// plane runs no kube-controller-manager, so the test does the namespace
// controller's part with its identity and its steps: delete the
// namespace's ConfigMaps until none is left, then remove the namespace's
// "kubernetes" finalizer.
func TestDeletingNamespacesCompletes(t *testing.T) {
	e := startProtection(t, 1, "platform", "teams")
	platformNS, teams := e.ns[0], e.ns[1]
	nsController := clientFor(t, e.serviceAccountKubeconfig(t, "namespace-controller", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, ns := range []string{platformNS, teams} {
		cms := e.client.CoreV1().ConfigMaps(ns)
		for _, t1 := range []string{"t1", "t2"} {
			if _, err := cms.Create(ctx, targetCM(ns, t1), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for i, tn := range []string{"t1", "t1", "t2"} {
			if _, err := cms.Create(ctx, deploymentCM(ns, fmt.Sprintf("d%d", i), tn), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	emptyAndFinalize := func(t *testing.T, ns string) {
		t.Helper()
		waitUntil(t, 2*time.Minute, "the namespace controller to empty "+ns, func() (bool, error) {
			cms := nsController.CoreV1().ConfigMaps(ns)
			if err := cms.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				return false, err
			}
			list, err := cms.List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			if len(list.Items) > 0 {
				return false, fmt.Errorf("%d ConfigMaps left, first %s with finalizers %v", len(list.Items), list.Items[0].Name, list.Items[0].Finalizers)
			}
			return true, nil
		})
		n, err := nsController.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.Finalizers = nil
		if _, err := nsController.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finalize namespace %s: %v", ns, err)
		}
		waitUntil(t, time.Minute, "namespace "+ns+" to be gone", func() (bool, error) {
			_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	}

	t.Run("a served namespace with targets and deployments is deleted while flinkgate runs", func(t *testing.T) {
		if err := e.client.CoreV1().Namespaces().Delete(ctx, teams, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		emptyAndFinalize(t, teams)
	})
	t.Run("the platform namespace is deleted after flinkgate went down with it", func(t *testing.T) {
		if err := e.client.CoreV1().Namespaces().Delete(ctx, platformNS, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// flinkgate's pods live here: the namespace controller stops them,
		// maybe before it deletes a single ConfigMap.
		e.fgs[0].Stop()
		// The webhooks now fail closed for everyone but the namespace controller.
		err := e.client.CoreV1().ConfigMaps(platformNS).Delete(ctx, "d0", metav1.DeleteOptions{})
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			t.Fatalf("an admin's delete with flinkgate down: %v; want the webhook to fail closed", err)
		}
		emptyAndFinalize(t, platformNS)
	})
}
