//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// The environment of the reconciler's e2e tests (issue 23): flinkgate with
// --flink-operator=on, running as the chart's webhook ServiceAccount with
// exactly the RBAC the chart renders with flinkOperator.enabled (it may
// read FlinkDeployments but not write them, and impersonate the platform's
// ServiceAccount, whose Role in each target namespace grants the
// flink.apache.org rules). A FlinkDeployment that exists was therefore
// written as the platform, and the chart's rules are shown to suffice. The
// tests play the Flink operator (fakeoperator_test.go).

// The contract's names (FLINK-CONTRACT.md), written out rather than taken
// from the reconciler, so a rename there fails here.
const (
	flinkClusterFinalizer = "flinkgate.io/flink-cluster"
	operatorFinalizer     = "flinkdeployments.flink.apache.org/finalizer"
	stateAnnotation       = "flinkgate.io/state"
	statusAnnotation      = "flinkgate.io/status"
	fieldManager          = "flinkgate"
	reasonFailed          = "FlinkDeploymentFailed"
	reasonConflict        = "FlinkDeploymentConflict"
)

var flinkStateSnapshotGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkstatesnapshots"}

// platformRules is the whole Role the chart gives the platform in a target
// namespace when flinkOperator.enabled.
func platformRules() []rbacv1.PolicyRule {
	return append(rbac.RequiredRules(), rbac.FlinkRules()...)
}

// flinkEnv is one flinkgate reconciling Deployments of its own platform
// namespace into FlinkDeployments in its own target namespaces.
type flinkEnv struct {
	c      *cluster.Cluster
	binary string
	admin  kubernetes.Interface
	dc     dynamic.Interface // admin: the tests read and play the operator
	// platformNS is the served namespace; targetNS the target namespaces.
	platformNS string
	targetNS   []string
	// fullname is the chart's name for the release's objects.
	fullname   string
	platform   cluster.ServiceAccount
	self       cluster.ServiceAccount // flinkgate's identity
	kubeconfig string                 // authenticates as self
	preflight  rbac.Mode
	fg         *cluster.Flinkgate
	// logs are the log files of every flinkgate the test started.
	logs []string
}

type flinkEnvOptions struct {
	// targets is the number of target namespaces.
	targets int
	// preflight is --rbac-preflight; empty means off.
	preflight rbac.Mode
	// rules are the platform Role's rules in a target namespace; nil means
	// platformRules.
	rules func(targetNS string) []rbacv1.PolicyRule
	// extraArgs are added to flinkgate's command line.
	extraArgs []string
}

func startFlinkEnv(t *testing.T, base string, opts flinkEnvOptions) *flinkEnv {
	t.Helper()
	e, _ := installFlinkOperatorCRDs(t)
	return startFlinkEnvOn(t, e, base, opts)
}

// startFlinkEnvOn is startFlinkEnv on a control plane of the caller's,
// where the Flink operator's CRDs are installed.
func startFlinkEnvOn(t *testing.T, e *env, base string, opts flinkEnvOptions) *flinkEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc, err := dynamic.NewForConfig(e.c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	fe := &flinkEnv{c: e.c, binary: e.binary, admin: e.c.Client(), dc: dc, platformNS: name(base), preflight: opts.preflight}
	if fe.preflight == "" {
		fe.preflight = rbac.ModeOff
	}
	if err := fe.c.CreateNamespace(ctx, fe.platformNS, nil); err != nil {
		t.Fatal(err)
	}
	for range opts.targets {
		ns := name(fe.platformNS + "-target")
		if err := fe.c.CreateNamespace(ctx, ns, nil); err != nil {
			t.Fatal(err)
		}
		fe.targetNS = append(fe.targetNS, ns)
	}
	fe.applyChartRBAC(t, opts.rules)
	if fe.kubeconfig, err = fe.c.ServiceAccountKubeconfig(ctx, fe.self, time.Hour); err != nil {
		t.Fatal(err)
	}
	fe.start(t, 0, opts.extraArgs)
	if err := fe.c.RegisterWebhooksNamed(ctx, fe.platformNS, fe.fg.WebhookURL(), fe.fg.CABundle(), []string{fe.platformNS}); err != nil {
		t.Fatalf("register webhooks: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Before flinkgate stops: failurePolicy Fail would refuse the
		// namespace's ConfigMaps while the webhooks point at nothing.
		if err := fe.c.UnregisterWebhooks(ctx, fe.platformNS); err != nil {
			t.Errorf("unregister webhooks %s: %v", fe.platformNS, err)
		}
		if t.Failed() {
			for _, path := range fe.logs {
				if b, err := os.ReadFile(path); err == nil {
					t.Logf("%s:\n%s", path, tail(string(b), 60))
				}
			}
		}
	})
	return fe
}

// addTargetNamespace creates a target namespace where the platform holds
// rules (nil: platformRules) and returns it.
func (fe *flinkEnv) addTargetNamespace(t *testing.T, rules func(string) []rbacv1.PolicyRule) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := name(fe.platformNS + "-target")
	if err := fe.c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	r := platformRules()
	if rules != nil {
		r = rules(ns)
	}
	// The chart's Role (appmanager.rbac.additionalNamespaces), made here
	// because a helm upgrade per namespace would be slow.
	if err := fe.c.GrantRole(ctx, ns, fe.platformRole(), fe.platform, r); err != nil {
		t.Fatal(err)
	}
	fe.targetNS = append(fe.targetNS, ns)
	return ns
}

// platformRole is the chart's name of the platform's Role in a target
// namespace.
func (fe *flinkEnv) platformRole() string { return fe.fullname + "-appmanager" }

// applyChartRBAC renders the chart's ServiceAccounts and RBAC with
// flinkOperator.enabled, the platform namespace as the release's and the
// target namespaces as appmanager.rbac.additionalNamespaces, and applies
// them; a non-nil rules then replaces the platform's Role in each target
// namespace.
func (fe *flinkEnv) applyChartRBAC(t *testing.T, rules func(string) []rbacv1.PolicyRule) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chart, err := filepath.Abs(filepath.Join("..", "charts", "flinkgate"))
	if err != nil {
		t.Fatal(err)
	}
	// The release is named after the platform namespace, so the
	// cluster-scoped ClusterRole of each env is its own.
	release := fe.platformNS
	fe.fullname = release + "-flinkgate"
	fe.platform = cluster.ServiceAccount{Namespace: fe.platformNS, Name: fe.fullname}
	fe.self = cluster.ServiceAccount{Namespace: fe.platformNS, Name: fe.fullname + "-webhook"}
	args := []string{"template", release, chart, "--namespace", fe.platformNS, "--set", "flinkOperator.enabled=true",
		"--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml"}
	if len(fe.targetNS) > 0 {
		args = append(args, "--set", "appmanager.rbac.additionalNamespaces={"+strings.Join(fe.targetNS, ",")+"}",
			"--show-only", "templates/appmanager-rbac.yaml")
	}
	manifest, errOut, err := fe.c.Helm(ctx, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	if _, errOut, err := fe.c.KubectlInput(ctx, manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply the chart's RBAC: %v\n%s", err, errOut)
	}
	if rules != nil {
		for _, ns := range fe.targetNS {
			if err := fe.c.GrantRole(ctx, ns, fe.platformRole(), fe.platform, rules(ns)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// start runs flinkgate as fe.self; a port of 0 picks a free one, a restart
// passes the old one, so the registered webhooks reach the new process.
func (fe *flinkEnv) start(t *testing.T, webhookPort int, extraArgs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	certDir := ""
	if fe.fg != nil {
		certDir = fe.fg.CertDir() // the registered CA bundle stays valid
	}
	fg, err := fe.c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: fe.binary, Kubeconfig: fe.kubeconfig, CertDir: certDir,
		PlatformNamespace: fe.platformNS, Namespaces: []string{fe.platformNS},
		FlinkOperator: true, PlatformServiceAccount: fe.platform.Name,
		WebhookPort: webhookPort,
		// The lease the chart's leader-election Role names.
		ExtraArgs: append([]string{"--rbac-preflight=" + string(fe.preflight), settle,
			"--leader-elect-namespace=" + fe.platformNS, "--leader-elect-lease-name=" + fe.fullname + "-protection"}, extraArgs...),
	})
	if err != nil {
		t.Fatalf("start flinkgate with --flink-operator=on: %v", err)
	}
	t.Cleanup(fg.Stop)
	fe.fg = fg
	fe.logs = append(fe.logs, fg.LogPath())
}

// webhookPort is the port of the running flinkgate's webhook.
func (fe *flinkEnv) webhookPort(t *testing.T) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(fe.fg.WebhookURL(), "https://127.0.0.1:%d", &port); err != nil {
		t.Fatalf("port of %s: %v", fe.fg.WebhookURL(), err)
	}
	return port
}

// savepointsDir is what the target's patch set puts into every
// Deployment's Flink configuration, so it shows in the FlinkDeployment.
func savepointsDir(target string) string { return "s3://e2e-bucket/" + target + "/savepoints" }

// createTarget creates a target for namespace ns in the platform namespace
// and returns its name and the API server's warnings.
func (fe *flinkEnv) createTarget(t *testing.T, ns string) (string, []string) {
	t.Helper()
	target := name("target")
	doc := fmt.Sprintf(`kind: DeploymentTarget
spec:
  kubernetes:
    namespace: %s
  deploymentPatchSet:
  - op: add
    path: /spec/template/spec/flinkConfiguration/state.savepoints.dir
    value: %s
`, ns, savepointsDir(target))
	var w warnings
	cfg := fe.c.RestConfig()
	cfg.WarningHandler = &w
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := client.CoreV1().ConfigMaps(fe.platformNS).Create(ctx, flinkgateCM(fe.platformNS, target, resource.KindTarget, doc), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create target %s for namespace %s: %v", target, ns, err)
	}
	return target, w.take()
}

// deploymentDoc is a Deployment that translates: a jar, a Flink version, a
// parallelism and a desired state.
func deploymentDoc(target, jar, state string) string {
	return fmt.Sprintf(`kind: Deployment
spec:
  deploymentTargetName: %s
  state: %s
  template:
    spec:
      artifact:
        kind: jar
        jarUri: %s
        flinkVersion: "1.20"
      parallelism: 2
`, target, state, jar)
}

func jarURI(n int) string { return fmt.Sprintf("local:///opt/flink/usrlib/job-%d.jar", n) }

func flinkgateCM(ns, name, kind, doc string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{resource.LabelKind: kind}},
		Data:       map[string]string{resource.DataKey: doc},
	}
}

// createDeployment creates a Deployment ConfigMap and returns it as stored.
func (fe *flinkEnv) createDeployment(t testing.TB, depName, target, jar, state string) *corev1.ConfigMap {
	t.Helper()
	cm, err := fe.tryCreateDeployment(depName, target, jar, state)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// tryCreateDeployment is createDeployment for a goroutine of its own.
func (fe *flinkEnv) tryCreateDeployment(depName, target, jar, state string) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cm, err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Create(ctx, flinkgateCM(fe.platformNS, depName, resource.KindDeployment, deploymentDoc(target, jar, state)), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create deployment %s: %w", depName, err)
	}
	return cm, nil
}

// updateDeployment rewrites a Deployment's document, retrying on a
// conflict with the reconciler's metadata writes.
func (fe *flinkEnv) updateDeployment(t *testing.T, depName, target, jar, state string) {
	t.Helper()
	waitUntil(t, waitFor, "the update of deployment "+depName, func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		cm, err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Get(ctx, depName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cm.Data[resource.DataKey] = deploymentDoc(target, jar, state)
		_, err = fe.admin.CoreV1().ConfigMaps(fe.platformNS).Update(ctx, cm, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return false, err
		}
		if err != nil {
			t.Fatalf("update deployment %s: %v", depName, err)
		}
		return true, nil
	})
}

// configMap reads a ConfigMap of the platform namespace; nil when absent.
func (fe *flinkEnv) configMap(t testing.TB, cmName string) *corev1.ConfigMap {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cm, err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Get(ctx, cmName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get configmap %s: %v", cmName, err)
	}
	return cm
}

// flinkDeployment reads a FlinkDeployment; nil when absent.
func (fe *flinkEnv) flinkDeployment(t testing.TB, ns, fdName string) *unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	u, err := fe.dc.Resource(flinkDeploymentGVR).Namespace(ns).Get(ctx, fdName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("get flinkdeployment %s/%s: %v", ns, fdName, err)
	}
	return u
}

// awaitFlinkDeployment waits until the FlinkDeployment exists and ok holds
// for it, and returns it.
func (fe *flinkEnv) awaitFlinkDeployment(t *testing.T, timeout time.Duration, ns, fdName, what string, ok func(*unstructured.Unstructured) (bool, string)) *unstructured.Unstructured {
	t.Helper()
	var got *unstructured.Unstructured
	waitUntil(t, timeout, fmt.Sprintf("FlinkDeployment %s/%s: %s", ns, fdName, what), func() (bool, string) {
		got = fe.flinkDeployment(t, ns, fdName)
		if got == nil {
			return false, "it does not exist"
		}
		if ok == nil {
			return true, ""
		}
		return ok(got)
	})
	return got
}

// flinkDeployments lists the FlinkDeployments flinkgate made for
// Deployments of the platform namespace, in every namespace.
func (fe *flinkEnv) flinkDeployments(t testing.TB) []unstructured.Unstructured {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	l, err := fe.dc.Resource(flinkDeploymentGVR).List(ctx, metav1.ListOptions{LabelSelector: flinkop.LabelDeploymentNamespace + "=" + fe.platformNS})
	if err != nil {
		t.Fatalf("list flinkdeployments: %v", err)
	}
	return l.Items
}

// eventCount is how often flinkgate reported reason on the ConfigMap, and
// the last message.
func (fe *flinkEnv) eventCount(t testing.TB, cmName, reason string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	l, err := fe.admin.CoreV1().Events(fe.platformNS).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + cmName + ",reason=" + reason})
	if err != nil {
		t.Fatalf("list events of %s: %v", cmName, err)
	}
	n, msg := 0, ""
	for _, ev := range l.Items {
		n += max(int(ev.Count), 1)
		if ev.Series != nil {
			n += max(int(ev.Series.Count)-1, 0)
		}
		msg = ev.Message
	}
	return n, msg
}

// flinkStatus is the contract's flinkgate.io/status annotation.
type flinkStatus struct {
	JobID              string `json:"jobId"`
	LifecycleState     string `json:"lifecycleState"`
	JobState           string `json:"jobState"`
	Error              string `json:"error"`
	LastSavepoint      string `json:"lastSavepoint"`
	ObservedGeneration int64  `json:"observedGeneration"`
}

func statusOf(cm *corev1.ConfigMap) (flinkStatus, error) {
	var s flinkStatus
	raw, ok := cm.Annotations[statusAnnotation]
	if !ok {
		return s, fmt.Errorf("no %s annotation", statusAnnotation)
	}
	err := json.Unmarshal([]byte(raw), &s)
	return s, err
}

// awaitState waits until the Deployment's flinkgate.io/state is want.
func (fe *flinkEnv) awaitState(t *testing.T, timeout time.Duration, depName, want string) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("deployment %s to carry %s: %s", depName, stateAnnotation, want), func() (bool, string) {
		cm := fe.configMap(t, depName)
		if cm == nil {
			return false, "the ConfigMap is gone"
		}
		got := cm.Annotations[stateAnnotation]
		return got == want, fmt.Sprintf("%s is %q, %s is %q", stateAnnotation, got, statusAnnotation, cm.Annotations[statusAnnotation])
	})
}

// auditRecord is what the tests read of an audit.k8s.io/v1 Event.
type auditRecord struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef struct {
		APIGroup    string `json:"apiGroup"`
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// flinkDeploymentWrites returns the audit log's writes (create, update,
// patch, delete) of FlinkDeployments (not their status) in the target
// namespaces, from byte offset from on, and the offset after them.
func (fe *flinkEnv) flinkDeploymentWrites(t testing.TB, from int64) ([]auditRecord, int64) {
	t.Helper()
	b, err := os.ReadFile(fe.c.AuditLog)
	if err != nil {
		t.Fatalf("read the API server's audit log: %v", err)
	}
	// Only whole lines: the last one may be half written.
	end := int64(strings.LastIndexByte(string(b), '\n') + 1)
	if from > end {
		from = end
	}
	var out []auditRecord
	for line := range strings.Lines(string(b[from:end])) {
		var r auditRecord
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r.ObjectRef.APIGroup != "flink.apache.org" || r.ObjectRef.Resource != "flinkdeployments" || r.ObjectRef.Subresource != "" ||
			!slices.Contains(fe.targetNS, r.ObjectRef.Namespace) {
			continue
		}
		switch r.Verb {
		case "create", "update", "patch", "delete":
			out = append(out, r)
		}
	}
	return out, end
}

// auditLogEnd is the audit log's current size, for flinkDeploymentWrites.
func (fe *flinkEnv) auditLogEnd(t testing.TB) int64 {
	t.Helper()
	_, end := fe.flinkDeploymentWrites(t, 1<<62)
	return end
}

func (r auditRecord) String() string {
	as := ""
	if r.ImpersonatedUser != nil {
		as = " as " + r.ImpersonatedUser.Username
	}
	return fmt.Sprintf("%s %s/%s by %s%s: %d", r.Verb, r.ObjectRef.Namespace, r.ObjectRef.Name, r.User.Username, as, r.ResponseStatus.Code)
}
