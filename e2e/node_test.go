//go:build e2e

// This file is over 400 lines because it is one ordered story on one node (install, admission
// through the Service, rollout and pod deletion under load, uninstall, teardown).

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/ociimage"
	"flinkgate.io/flinkgate/internal/testenv"
)

const (
	// nodeImageRepo and nodeImageTag name flinkgate's image on the node;
	// there is no registry, so the chart runs it with pullPolicy Never.
	nodeImageRepo = "flinkgate.local/flinkgate"
	nodeImageTag  = "e2e"
	// loadRate is the deployment writes per second during the rollout and
	// the pod deletion: the issue asks for at least 20.
	loadRate = 25
	// podWait bounds a wait for the chart's pods on a busy two-core machine.
	podWait = 3 * time.Minute
)

// TestChartOnANode installs the chart with its defaults and flinkgate's
// image on a real node (containerd, kubelet, kube-proxy, controller-manager,
// scheduler): the API server calls the pods through the Service, with the
// chart's certificate, in a namespace that enforces the restricted Pod
// Security Standard; a rollout and a pod deletion under load fail no
// admission; uninstall leaves nothing behind.
func TestChartOnANode(t *testing.T) {
	testenv.NewestOnly(t, "the node's kubelet, kube-proxy, controller-manager and scheduler are the newest release's, and a kubelet must not be newer than its API server")
	if err := cluster.CheckNodeHost(); err != nil {
		if os.Getenv(cluster.NodeSkipEnv) == "1" {
			t.Skipf("skipped (%s=1): %v", cluster.NodeSkipEnv, err)
		}
		t.Fatal(err)
	}
	bin := testenv.ToolsBin(t)
	for _, tool := range []string{"kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("node tool %s is missing (run `hack/tools.sh node`): %v", tool, err)
		}
	}
	began := time.Now()
	imageTar := buildImage(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, Log: testLog{t}, Node: true, Images: []string{imageTar}})
	if err != nil {
		t.Fatalf("start the control plane and node: %v", err)
	}
	t.Cleanup(c.Stop)
	t.Logf("node Ready %s after its first process started", c.NodeStats().Startup.Round(time.Millisecond))
	s := &suite{c: c, ns: platformNS}

	step := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	chart, err := filepath.Abs(filepath.Join("..", "charts", "flinkgate"))
	if err != nil {
		t.Fatal(err)
	}
	values := []string{
		"--set", "image.repository=" + nodeImageRepo, "--set", "image.tag=" + nodeImageTag, "--set", "image.pullPolicy=Never",
		// The seed's target runs Flink in "staging": the RBAC preflight
		// (enforce, the default) needs the platform's Role there.
		"--set", "appmanager.rbac.additionalNamespaces={staging}",
	}

	step("helm install with the defaults and the node's image runs both pods Ready in a namespace enforcing the restricted Pod Security Standard", func(t *testing.T) {
		for ns, labels := range map[string]map[string]string{
			platformNS: {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"},
			"staging":  nil,
		} {
			if err := c.CreateNamespace(ctx, ns, labels); err != nil {
				t.Fatal(err)
			}
		}
		installed := time.Now()
		if _, errOut, err := c.Helm(ctx, append([]string{"install", chartRelease, chart, "-n", platformNS}, values...)...); err != nil {
			t.Fatalf("helm install: %v\n%s", err, errOut)
		}
		waitRollout(t, c, 2)
		t.Logf("both pods Ready %s after helm install", time.Since(installed).Round(time.Millisecond))
	})

	step("the webhooks are registered on the Service, not a URL, and the API server calls them there", func(t *testing.T) {
		for _, kind := range []string{"mutatingwebhookconfiguration", "validatingwebhookconfiguration"} {
			out, _ := s.mustKubectl(t, "", "get", kind, chartFullname, "-o", "jsonpath={.webhooks[0].clientConfig.service.name}:{.webhooks[0].clientConfig.service.port}:{.webhooks[0].clientConfig.url}")
			if want := chartFullname + ":443:"; out != want {
				t.Errorf("%s calls %q (service:port:url), want %q", kind, out, want)
			}
		}
		// A kind flinkgate does not know is denied by flinkgate itself,
		// which proves the call reached a pod through the Service. Ready
		// pods precede kube-proxy's rules for them by a moment, so it polls.
		probe := s.manifest("probe", "Bogus", "kind: Bogus\nspec: {}\n")
		waitUntil(t, time.Minute, "flinkgate's denial through the Service", func() (bool, string) {
			_, errOut, err := s.kubectl(t, probe, "apply", "--dry-run=server", "-f", "-")
			return err != nil && strings.Contains(errOut, "flinkgate.io\" denied the request"), errOut
		})
	})

	t.Run("helm test runs the chart's test hook, flinkgate probe from the node's image, and it succeeds", func(t *testing.T) {
		// The hook dials the Service by its DNS name, which the node's
		// cluster DNS answers, and verifies the certificate with the CA.
		tested := time.Now()
		out, errOut, err := c.Helm(ctx, "test", chartRelease, "-n", platformNS, "--timeout", podWait.String(), "--logs")
		if err != nil {
			t.Fatalf("helm test: %v\n%s\n%s", err, out, errOut)
		}
		if !strings.Contains(out, "Phase:          Succeeded") {
			t.Errorf("helm test did not report the hook succeeded:\n%s", out)
		}
		t.Logf("helm test succeeded in %s", time.Since(tested).Round(time.Millisecond))
	})

	t.Run("the seed's target is stored immutable and a deployment is patched, as in the URL-mode suite", func(t *testing.T) {
		s.apply(t, s.example(t, "deployment-target.yaml", "staging", nil))
		cm := s.get(t, "staging")
		if cm.Immutable == nil || !*cm.Immutable || cm.Metadata.Annotations["flinkgate.io/namespace"] != "staging" {
			t.Errorf("target stored as %+v; want immutable with flinkgate.io/namespace=staging", cm)
		}
		s.apply(t, s.example(t, "deployment.yaml", "top-speed-windowing", nil))
		d := s.get(t, "top-speed-windowing")
		if !strings.Contains(d.Data["resource.yaml"], "state.checkpoints.dir: s3://my-bucket/checkpoints") ||
			d.Metadata.Labels["flinkgate.io/deployment-target"] != "staging" {
			t.Errorf("deployment not patched and labelled: %+v", d)
		}
	})

	t.Run("a change to the target's spec is denied as immutable", func(t *testing.T) {
		changed := s.example(t, "deployment-target.yaml", "staging", func(doc string) string {
			return strings.Replace(doc, "namespace: staging", "namespace: production", 1)
		})
		s.denied(t, changed, "targets are immutable", "apply", "-f", "-")
	})

	t.Run("deleting the referenced target is denied, naming the deployment", func(t *testing.T) {
		s.denied(t, "", "top-speed-windowing", "-n", platformNS, "delete", "configmap", "staging")
	})

	// The upgrade also locks the webhook port to the API server, which
	// presents the control plane's webhook client certificate to every
	// webhook: switching it on must not fail a write either.
	clientCA, err := os.ReadFile(c.WebhookClientCAFile())
	if err != nil {
		t.Fatal(err)
	}
	values = append(values,
		"--set", "webhook.clientAuth.caBundle="+base64.StdEncoding.EncodeToString(clientCA),
		"--set", "webhook.clientAuth.names={"+cluster.WebhookClientName+"}")

	t.Run("helm upgrade that turns on webhook.clientAuth rolls both pods while 20+ deployment writes per second run, and no admission fails", func(t *testing.T) {
		load := startLoad(t, c, "rollout")
		rolled := time.Now()
		args := append([]string{"upgrade", chartRelease, chart, "-n", platformNS}, values...)
		args = append(args, "--set-string", "podAnnotations.rollout="+strconv.FormatInt(time.Now().Unix(), 10))
		if _, errOut, err := c.Helm(ctx, args...); err != nil {
			t.Fatalf("helm upgrade: %v\n%s", err, errOut)
		}
		waitRollout(t, c, 2)
		t.Logf("rollout finished %s after helm upgrade", time.Since(rolled).Round(time.Millisecond))
		load.stopAndCheck(t)
	})

	t.Run("with webhook.clientAuth, helm test's probe, which has no client certificate, is refused in the handshake and passes", func(t *testing.T) {
		out, errOut, err := c.Helm(ctx, "test", chartRelease, "-n", platformNS, "--timeout", podWait.String(), "--logs")
		if err != nil {
			t.Fatalf("helm test: %v\n%s\n%s", err, out, errOut)
		}
		if !strings.Contains(out, "refused a caller without the API server's client certificate") {
			t.Errorf("the probe did not report the refusal:\n%s", out)
		}
	})

	t.Run("deleting one pod under load fails no admission: the other replica serves", func(t *testing.T) {
		pods := flinkgatePods(t, c)
		load := startLoad(t, c, "delete")
		deleted := time.Now()
		if err := c.Client().CoreV1().Pods(platformNS).Delete(ctx, pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, podWait, "the deleted pod to be gone and two pods Ready", func() (bool, string) {
			if _, err := c.Client().CoreV1().Pods(platformNS).Get(ctx, pods[0].Name, metav1.GetOptions{}); err == nil {
				return false, "pod " + pods[0].Name + " still exists"
			}
			return rolledOut(c, 2)
		})
		t.Logf("pod replaced %s after its deletion", time.Since(deleted).Round(time.Millisecond))
		load.stopAndCheck(t)
	})

	t.Run("helm uninstall leaves no pods, containers or release objects", func(t *testing.T) {
		if _, errOut, err := c.Helm(ctx, "uninstall", chartRelease, "-n", platformNS, "--wait"); err != nil {
			t.Fatalf("helm uninstall: %v\n%s", err, errOut)
		}
		waitUntil(t, podWait, "no pods and no containers", func() (bool, string) {
			pods, err := c.Client().CoreV1().Pods(platformNS).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			if len(pods.Items) > 0 {
				return false, fmt.Sprintf("%d pods left", len(pods.Items))
			}
			containers, err := c.NodeContainers(ctx)
			if err != nil {
				return false, err.Error()
			}
			return len(containers) == 0, fmt.Sprintf("containers left: %v", containers)
		})
		out, _ := s.mustKubectl(t, "", "get", "all,serviceaccounts,secrets,roles,rolebindings,poddisruptionbudgets,clusterroles,clusterrolebindings,mutatingwebhookconfigurations,validatingwebhookconfigurations",
			"-A", "-l", "app.kubernetes.io/instance="+chartRelease, "-o", "name")
		if strings.TrimSpace(out) != "" {
			t.Errorf("objects of the release left after uninstall:\n%s", out)
		}
	})

	t.Run("teardown leaves no containers, mounts, network interfaces, iptables chains or processes", func(t *testing.T) {
		c.Stop()
		st := c.NodeStats()
		t.Logf("node teardown took %s", st.Teardown.Round(time.Millisecond))
		for _, l := range st.Leftovers {
			t.Errorf("left behind: %s", l)
		}
	})
	t.Logf("TestChartOnANode took %s", time.Since(began).Round(100*time.Millisecond))
}

// buildImage builds flinkgate statically and packs it as the image the
// chart runs.
func buildImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	binary := filepath.Join(dir, "flinkgate")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "flinkgate.io/flinkgate/cmd/flinkgate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build flinkgate: %v\n%s", err, out)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	img, err := ociimage.Build(data, ociimage.Flinkgate)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "flinkgate.tar")
	if err := ociimage.WriteOCI(tarPath, nodeImageRepo+":"+nodeImageTag, img); err != nil {
		t.Fatal(err)
	}
	return tarPath
}

func flinkgatePods(t *testing.T, c *cluster.Cluster) []corev1.Pod {
	t.Helper()
	pods, err := c.Client().CoreV1().Pods(platformNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + chartRelease})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatal("no flinkgate pods")
	}
	return pods.Items
}

// rolledOut reports whether the chart's Deployment has finished rolling out
// with want Ready pods and no old pod left.
func rolledOut(c *cluster.Cluster, want int32) (bool, string) {
	ctx := context.Background()
	d, err := c.Client().AppsV1().Deployments(platformNS).Get(ctx, chartFullname, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	st := d.Status
	if d.Generation != st.ObservedGeneration || st.UpdatedReplicas != want || st.ReadyReplicas != want || st.Replicas != want {
		return false, fmt.Sprintf("generation %d observed %d, replicas %d updated %d ready %d; conditions %v",
			d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, conditions(d))
	}
	pods, err := c.Client().CoreV1().Pods(platformNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + chartRelease})
	if err != nil {
		return false, err.Error()
	}
	if int32(len(pods.Items)) != want {
		return false, fmt.Sprintf("%d pods, want %d", len(pods.Items), want)
	}
	return true, ""
}

func conditions(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s (%s)", c.Type, c.Status, c.Message))
	}
	return out
}

func waitRollout(t *testing.T, c *cluster.Cluster, want int32) {
	t.Helper()
	waitUntil(t, podWait, "the chart's Deployment to roll out", func() (bool, string) {
		ok, why := rolledOut(c, want)
		if !ok {
			why += "; pods: " + podSummary(c)
		}
		return ok, why
	})
}

func podSummary(c *cluster.Cluster) string {
	pods, err := c.Client().CoreV1().Pods(platformNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, p := range pods.Items {
		s := p.Name + " " + string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			s += fmt.Sprintf(" ready=%v", cs.Ready)
			if w := cs.State.Waiting; w != nil {
				s += " waiting " + w.Reason + ": " + w.Message
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue && cond.Message != "" {
				s += " " + string(cond.Type) + ": " + cond.Message
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// load creates deployments that reference the seed's target at loadRate per
// second, each a CREATE through both webhooks, and counts the failures.
type load struct {
	name     string
	stop     chan struct{}
	wg       sync.WaitGroup
	started  time.Time
	elapsed  time.Duration
	attempts atomic.Int64
	failures atomic.Int64
	mu       sync.Mutex
	errs     []string
}

func startLoad(t *testing.T, c *cluster.Cluster, name string) *load {
	t.Helper()
	l := &load{name: name, stop: make(chan struct{}), started: time.Now()}
	cms := c.Client().CoreV1().ConfigMaps(platformNS)
	// Writes take longer than the interval when the machine is busy; a
	// bounded pool of workers keeps the rate without unbounded concurrency
	// (32 workers hold 25/s while writes take up to 1.2 s).
	jobs := make(chan int)
	for range 32 {
		l.wg.Go(func() {
			for i := range jobs {
				doc := fmt.Sprintf("kind: Deployment\nspec:\n  deploymentTargetName: staging\n  template:\n    spec:\n      parallelism: %d\n", i%8+1)
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%s-%d", l.name, i), Labels: map[string]string{"flinkgate.io/kind": "Deployment"}},
					Data:       map[string]string{"resource.yaml": doc},
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cms.Create(ctx, cm, metav1.CreateOptions{})
				cancel()
				l.attempts.Add(1)
				if err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					if len(l.errs) < 10 {
						l.errs = append(l.errs, time.Since(l.started).Round(time.Millisecond).String()+": "+err.Error())
					}
					l.mu.Unlock()
				}
			}
		})
	}
	l.wg.Go(func() {
		defer close(jobs)
		tick := time.NewTicker(time.Second / loadRate)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-tick.C:
				select {
				case jobs <- i:
				case <-l.stop:
					return
				}
			}
		}
	})
	return l
}

// stopAndCheck keeps the load running for three seconds' worth of writes
// more, so the writes right after the change count too, then requires
// every write admitted at 20/s or more.
func (l *load) stopAndCheck(t *testing.T) {
	t.Helper()
	more := l.attempts.Load() + 3*loadRate
	waitUntil(t, waitFor, fmt.Sprintf("%d more writes of load %q", 3*loadRate, l.name), func() (bool, string) {
		n := l.attempts.Load()
		return n >= more, fmt.Sprintf("%d of %d writes", n, more)
	})
	close(l.stop)
	l.wg.Wait()
	l.elapsed = time.Since(l.started)
	attempts, failures := l.attempts.Load(), l.failures.Load()
	rate := float64(attempts) / l.elapsed.Seconds()
	t.Logf("load %q: %d deployment writes in %s (%.1f/s), %d failed", l.name, attempts, l.elapsed.Round(time.Millisecond), rate, failures)
	if failures > 0 {
		t.Errorf("%d of %d admissions failed; first errors:\n%s", failures, attempts, strings.Join(l.errs, "\n"))
	}
	if rate < 20 {
		t.Errorf("the load ran at %.1f writes/s, want at least 20", rate)
	}
}

// testLog writes the cluster's progress into the test's log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
