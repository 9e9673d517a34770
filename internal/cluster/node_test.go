//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/testenv"
)

// teardownBound is how long Stop may take on a node whose pods still run:
// well inside `make demo-down`'s 60 s wait, after which it kills devcluster
// and whatever the teardown had not removed stays on the host.
const teardownBound = 30 * time.Second

// TestNodeStopsWithPodsRunning stops a node while a Deployment's pods run,
// as `make demo-down` does with the chart still installed: the
// controller-manager must not recreate what the teardown removes, and the
// teardown must be bounded and leave nothing behind.
func TestNodeStopsWithPodsRunning(t *testing.T) {
	testenv.NewestOnly(t, "the node's kubelet, kube-proxy, controller-manager and scheduler are the newest release's, and a kubelet must not be newer than its API server")
	if err := CheckNodeHost(); err != nil {
		if os.Getenv(NodeSkipEnv) == "1" {
			t.Skipf("skipped (%s=1): %v", NodeSkipEnv, err)
		}
		t.Fatal(err)
	}
	bin := testenv.ToolsBin(t)
	for _, tool := range []string{"kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("node tool %s is missing (run `hack/tools.sh node`): %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{BinDir: bin, Log: testLog{t}, Node: true})
	if err != nil {
		t.Fatalf("start the control plane and node: %v", err)
	}
	t.Cleanup(c.Stop)

	const ns, name, replicas = "e2e-teardown", "sleeper", 2
	if err := c.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	// The sandbox image is on the node already, and its program runs until
	// it is signalled, like any server.
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					// The chart's value: the kubelet would wait this long
					// for a container that does not stop on SIGTERM.
					TerminationGracePeriodSeconds: new(int64(30)),
					Containers: []corev1.Container{{
						Name: name, Image: PauseImage, ImagePullPolicy: corev1.PullNever,
					}},
				},
			},
		},
	}
	if _, err := c.Client().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	err = poll(ctx, 3*time.Minute, "the deployment's pods to be Ready", nil, func(ctx context.Context) (bool, error) {
		got, err := c.Client().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.Status.ReadyReplicas == replicas, fmt.Errorf("%d of %d replicas ready", got.Status.ReadyReplicas, replicas)
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Stop with the pods running is bounded and leaves no shims, containers' processes, mounts, interfaces, iptables chains or cgroups.", func(t *testing.T) {
		began := time.Now()
		c.Stop()
		took := time.Since(began)
		st := c.NodeStats()
		t.Logf("Stop took %s, the node's teardown %s", took.Round(time.Millisecond), st.Teardown.Round(time.Millisecond))
		if took > teardownBound {
			t.Errorf("Stop took %s with pods running, want at most %s", took.Round(time.Millisecond), teardownBound)
		}
		for _, l := range st.Leftovers {
			t.Errorf("left behind: %s", l)
		}
		if _, err := os.Stat(c.Dir); err == nil {
			t.Errorf("cluster directory %s still exists after Stop", c.Dir)
		}
	})
}
