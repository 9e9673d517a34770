//go:build e2e

// This file is over 400 lines because the in-use protection proofs (terminating targets,
// replicas behind a proxy, forged reviews, the storm with a leader kill, namespace deletion)
// share one environment and its helpers; each test still runs alone.

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"flinkgate.io/flinkgate/internal/cluster"
)

const (
	finalizer = "flinkgate.io/in-use-protection"
	// settleTime is the protection controller's settle time in these tests:
	// a local API server stores an admitted write within milliseconds, and
	// the storm's target cycles must not each wait the production minute.
	settleTime = 2 * time.Second
	settle     = "--protection-settle=2s"
)

// protectionEnv is a control plane with flinkgate replicas running as their
// own ServiceAccount (not as the admin the tests act as), registered behind
// a round-robin proxy.
type protectionEnv struct {
	// ns are the test's namespaces; the first is its platform namespace.
	ns     []string
	c      *cluster.Cluster
	client kubernetes.Interface // the admin
	fgs    []*cluster.Flinkgate
	proxy  *cluster.Proxy
}

func startProtection(t *testing.T, replicas int, bases ...string) *protectionEnv {
	t.Helper()
	return startProtectionSettling(t, replicas, settle, bases...)
}

// startProtectionSettling is startProtection with the replicas' settle
// time as a --protection-settle flag.
func startProtectionSettling(t *testing.T, replicas int, settle string, bases ...string) *protectionEnv {
	t.Helper()
	shared := sharedEnv(t)
	c := shared.c
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := &protectionEnv{c: c, client: c.Client()}
	for _, base := range bases {
		ns := name(base)
		if err := c.CreateNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
		env.ns = append(env.ns, ns)
	}
	kubeconfig := env.serviceAccountKubeconfig(t, "flinkgate", "cluster-admin")
	certDir := ""
	var backends []string
	for range replicas {
		fg, err := c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
			Binary: shared.binary, Kubeconfig: kubeconfig, CertDir: certDir,
			PlatformNamespace: env.ns[0], Namespaces: env.ns,
			ExtraArgs: []string{"--rbac-preflight=off", settle},
		})
		if err != nil {
			t.Fatalf("start flinkgate: %v", err)
		}
		t.Cleanup(fg.Stop)
		logOnFailure(t, fg)
		certDir = fg.CertDir() // one CA for every replica
		env.fgs = append(env.fgs, fg)
		backends = append(backends, strings.TrimPrefix(fg.WebhookURL(), "https://"))
	}
	var err error
	if env.proxy, err = cluster.StartProxy(backends...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.proxy.Close)
	whName := env.ns[0]
	if err := c.RegisterWebhooksNamed(ctx, whName, env.proxy.URL(), env.fgs[0].CABundle(), env.ns); err != nil {
		t.Fatalf("register webhooks: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Before the replicas stop: failurePolicy Fail would refuse the
		// namespaces' ConfigMaps while the webhooks point at nothing.
		if err := c.UnregisterWebhooks(ctx, whName); err != nil {
			t.Errorf("unregister webhooks %s: %v", whName, err)
		}
	})
	return env
}

// serviceAccountKubeconfig creates kube-system/<name>, binds it to a
// ClusterRole (unless empty) and returns a kubeconfig that authenticates as it.
func (e *protectionEnv) serviceAccountKubeconfig(t *testing.T, name, clusterRole string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name}}
	if _, err := e.client.CoreV1().ServiceAccounts("kube-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if clusterRole != "" {
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-protection-" + name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: clusterRole},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "kube-system", Name: name}},
		}
		if _, err := e.client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	token, err := e.c.ServiceAccountToken(ctx, "kube-system", name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path, err := e.c.KubeconfigFor(token)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func targetCM(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"flinkgate.io/kind": "DeploymentTarget"}},
		Data:       map[string]string{"resource.yaml": "kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: staging\n"},
	}
}

func deploymentCM(ns, name, target string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"flinkgate.io/kind": "Deployment"}},
		Data:       map[string]string{"resource.yaml": "kind: Deployment\nspec:\n  deploymentTargetName: " + target + "\n"},
	}
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func gone(client kubernetes.Interface, ns, name string) func() (bool, error) {
	return func() (bool, error) {
		ctx, cancel := opCtx()
		defer cancel()
		_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

// danglingLive lists, live, the deployments whose target is missing.
func danglingLive(client kubernetes.Interface, ns string) ([]string, error) {
	ctx, cancel := opCtx()
	defer cancel()
	cms, err := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "flinkgate.io/kind"})
	if err != nil {
		return nil, err
	}
	targets := map[string]bool{}
	for _, cm := range cms.Items {
		if cm.Labels["flinkgate.io/kind"] == "DeploymentTarget" {
			targets[cm.Name] = true
		}
	}
	var out []string
	for _, cm := range cms.Items {
		if cm.Labels["flinkgate.io/kind"] == "Deployment" && !targets[cm.Labels["flinkgate.io/deployment-target"]] {
			out = append(out, cm.Name+"->"+cm.Labels["flinkgate.io/deployment-target"])
		}
	}
	return out, nil
}

var metricLine = regexp.MustCompile(`(?m)^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$`)

// metric sums a metric's samples whose labels contain every given pair; ok
// is false when there is no such sample.
func metric(t *testing.T, fg *cluster.Flinkgate, name string, labels ...string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(fg.MetricsURL() + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	sum, found := 0.0, false
	for _, m := range metricLine.FindAllStringSubmatch(b.String(), -1) {
		if m[1] != name {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(m[2], l) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// leader returns the index of the replica that leads, once exactly one does.
func (e *protectionEnv) leader(t *testing.T, timeout time.Duration) int {
	t.Helper()
	idx := -1
	waitUntil(t, timeout, "exactly one replica to lead the protection controller", func() (bool, error) {
		idx = -1
		for i, fg := range e.fgs {
			if fg.Exited() {
				continue
			}
			if v, _ := metric(t, fg, "flinkgate_protection_leader"); v == 1 {
				if idx >= 0 {
					return false, errors.New("two leaders")
				}
				idx = i
			}
		}
		return idx >= 0, nil
	})
	return idx
}

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
		if !slicesContain(cm.Finalizers, finalizer) {
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
			return !slicesContain(cm.Finalizers, finalizer) && slicesContain(cm.Finalizers, "example.com/keep"), nil
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
		if !slicesContain(cm.Finalizers, finalizer) {
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

func slicesContain(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
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
	if !slicesContain(cm.Finalizers, finalizer) || cm.DeletionTimestamp == nil {
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

// TestProtectionStorm races deployment creates and deletes against deletes
// and re-creates of their target on two replicas behind the proxy, kills the
// leader midway, and checks that no deployment is ever left pointing at a
// missing target. A round is one deployment of a worker created and deleted
// again; attempts the webhooks deny (the target is being deleted or gone)
// are retried after a pause, as a user would.
func TestProtectionStorm(t *testing.T) {
	e := startProtection(t, 2, "protect")
	platformNS := e.ns[0]
	const (
		workers = 8
		rounds  = 50
		target  = "storm"
		// The leader is killed once half of the rounds are done and the
		// target has gone through this many delete and re-create cycles.
		killAfterCycles = 1
		// maxRounds bounds each worker's rounds however slow the cycles are.
		maxRounds = 20 * rounds
	)
	cms := e.client.CoreV1().ConfigMaps(platformNS)
	{
		ctx, cancel := opCtx()
		if _, err := cms.Create(ctx, targetCM(platformNS, target), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	e.leader(t, time.Minute)
	var (
		ops, attempts, denied, failed, roundsDone atomic.Int64
		cycles, cyclesAfterKill, deleteDenied     atomic.Int64
		danglingSeen                              atomic.Int64
		killed                                    atomic.Bool
		mu                                        sync.Mutex
		denials                                   = map[string]int{}
	)
	classify := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		msg := err.Error()
		switch {
		case strings.Contains(msg, "is being deleted"):
			denials["target terminating"]++
		case strings.Contains(msg, "does not exist"):
			denials["target missing"]++
		case strings.Contains(msg, "is referenced by"):
			denials["target referenced"]++
		case strings.Contains(msg, "failed calling webhook"):
			denials["webhook call failed"]++
		default:
			denials["other: "+firstLine(msg)]++
		}
	}
	stopChecker, stopDeleter := make(chan struct{}), make(chan struct{})
	var checker, deleter sync.WaitGroup
	// The checker: a live list, every 200 ms, of deployments whose target is missing.
	checker.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopChecker:
				return
			case <-tick.C:
			}
			if d, err := danglingLive(e.client, platformNS); err == nil && len(d) > 0 {
				danglingSeen.Add(1)
				t.Errorf("deployments pointing at a missing target: %v", d)
			}
		}
	})
	// admitted counts the deployment creates flinkgate admitted.
	admitted := func() int64 { return attempts.Load() - denied.Load() - failed.Load() }
	// The target's deleter and re-creator.
	deleter.Go(func() {
		// A refused delete is tried again on the next tick, not at once.
		retry := time.NewTicker(20 * time.Millisecond)
		defer retry.Stop()
		for {
			select {
			case <-stopDeleter:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := cms.Delete(ctx, target, metav1.DeleteOptions{})
			ops.Add(1)
			switch {
			case err == nil:
				// Wait until flinkgate releases it, then bring it back.
				waitDeadline := time.Now().Add(90 * time.Second)
				poll(time.Until(waitDeadline), gone(e.client, platformNS, target))
				if created, _ := poll(time.Until(waitDeadline), func() (bool, error) {
					_, err := cms.Create(ctx, targetCM(platformNS, target), metav1.CreateOptions{})
					ops.Add(1)
					return err == nil, err
				}); created {
					cycles.Add(1)
					if killed.Load() {
						cyclesAfterKill.Add(1)
					}
					// Let the workers in before the next delete: wait
					// until as many deployment creates as there are
					// workers were admitted, or 700 ms have passed.
					before := admitted()
					poll(700*time.Millisecond, func() (bool, error) { return admitted() >= before+workers, nil })
				}
			case apierrors.IsNotFound(err):
			default:
				deleteDenied.Add(1)
				classify(err)
				<-retry.C
			}
			cancel()
		}
	})
	started := time.Now()
	var workersWG sync.WaitGroup
	for w := range workers {
		workersWG.Go(func() {
			// At least rounds rounds, and on until a target cycle has completed
			// under the new leader: on a quiet machine the rounds alone end
			// before the first target cycle (its settle time) allows the kill.
			// A moment between rounds gives the deleter its chances.
			pace := time.NewTicker(30 * time.Millisecond)
			defer pace.Stop()
			for r := 0; r < rounds || (r < maxRounds && (!killed.Load() || cyclesAfterKill.Load() == 0)); r++ {
				name := fmt.Sprintf("d-%d-%d", w, r)
				// A denied or failed create is tried again until the
				// deployment is admitted, within the storm's own bound.
				if ok, err := poll(2*time.Minute, func() (bool, error) {
					ctx, cancel := opCtx()
					defer cancel()
					_, err := cms.Create(ctx, deploymentCM(platformNS, name, target), metav1.CreateOptions{})
					ops.Add(1)
					attempts.Add(1)
					if err == nil {
						if err := deleteRetrying(ctx, cms.Delete, name, &ops); err != nil {
							t.Errorf("delete deployment %s: %v", name, err)
						}
						return true, nil
					}
					if apierrors.IsForbidden(err) {
						denied.Add(1)
					} else {
						failed.Add(1) // a webhook call cut by the leader's kill fails closed
					}
					classify(err)
					return false, err
				}); !ok {
					t.Errorf("deployment %s was not admitted within 2m: %v", name, err)
				}
				roundsDone.Add(1)
				<-pace.C
			}
		})
	}
	// Kill the leader midway, as a crash would: no lease release.
	waitUntil(t, 2*time.Minute, fmt.Sprintf("half of the rounds and %d target cycles", killAfterCycles), func() (bool, error) {
		return roundsDone.Load() >= workers*rounds/2 && cycles.Load() >= killAfterCycles, nil
	})
	dead := e.leader(t, time.Minute)
	e.fgs[dead].Kill()
	killed.Store(true)
	killedAt, roundsAtKill := time.Since(started), roundsDone.Load()
	workersWG.Wait()
	took := time.Since(started)
	if roundsAtKill >= workers*maxRounds {
		t.Errorf("the leader was killed after the storm (%d rounds done), not in the middle of it", roundsAtKill)
	}
	// The deployments are gone; the deleter shows the new leader releasing.
	waitUntil(t, 2*time.Minute, "a target cycle completed under the new leader", func() (bool, error) { return cyclesAfterKill.Load() > 0, nil })
	close(stopDeleter)
	deleter.Wait()
	close(stopChecker)
	checker.Wait()
	t.Logf("killed the leader, replica %d, %s into the storm after %d rounds", dead, killedAt.Round(time.Millisecond), roundsAtKill)
	t.Logf("storm: %d workers x %d rounds in %s, %d API operations: %d deployment creates attempted, %d denied, %d failed; target deleted and re-created %d times (%d under the new leader), %d target deletes denied; by cause %v; proxy connections %v",
		workers, rounds, took.Round(time.Millisecond), ops.Load(), attempts.Load(), denied.Load(), failed.Load(), cycles.Load(), cyclesAfterKill.Load(), deleteDenied.Load(), denials, e.proxy.Connections())

	t.Run("the other replica takes the lease after the leader is killed", func(t *testing.T) {
		l := e.leader(t, time.Minute)
		if l == dead {
			t.Fatalf("the killed replica %d still leads", dead)
		}
		ctx, cancel := opCtx()
		defer cancel()
		lease, err := e.client.CoordinationV1().Leases(platformNS).Get(ctx, "flinkgate-protection", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("lease held by %s after %d transitions", *lease.Spec.HolderIdentity, *lease.Spec.LeaseTransitions)
	})
	t.Run("no deployment ever referenced a missing target", func(t *testing.T) {
		if n := danglingSeen.Load(); n > 0 {
			t.Fatalf("%d live lists showed deployments pointing at nothing", n)
		}
		if d, err := danglingLive(e.client, platformNS); err != nil || len(d) > 0 {
			t.Fatalf("deployments pointing at nothing: %v (%v)", d, err)
		}
	})
	t.Run("the new leader's dangling gauge reads zero", func(t *testing.T) {
		l := e.leader(t, time.Minute)
		waitUntil(t, 30*time.Second, "flinkgate_dangling_deployments to read 0", func() (bool, error) {
			v, ok := metric(t, e.fgs[l], "flinkgate_dangling_deployments", `namespace="`+platformNS+`"`)
			return ok && v == 0, nil
		})
	})
}

// deleteRetrying deletes a deployment, retrying calls that a killed
// replica cut off (the webhooks fail closed); deployments may always go.
func deleteRetrying(ctx context.Context, del func(context.Context, string, metav1.DeleteOptions) error, name string, ops *atomic.Int64) error {
	// As long as the 20 tries 200 ms apart it had: the proxy sends the next
	// call to a live replica.
	_, err := poll(5*time.Second, func() (bool, error) {
		err := del(ctx, name, metav1.DeleteOptions{})
		ops.Add(1)
		return err == nil || apierrors.IsNotFound(err), err
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
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
