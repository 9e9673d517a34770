//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
