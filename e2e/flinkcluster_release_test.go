//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/flinkcluster"
	"flinkgate.io/flinkgate/internal/testenv"
)

// R3 of the review: flinkgate restarted while the FlinkDeployment CRD is
// gone used to keep a deleted Deployment Terminating for ever. No
// FlinkDeployment can exist then, so the reconciler releases it from its
// discovery poll. The test runs on a control plane of its own: deleting
// the CRD from the shared one would pull it from under the other Flink
// tests (and wait for their FlinkDeployments' finalizers).
func TestADeploymentDeletedWhileTheFlinkDeploymentCRDIsMissingGoesWithinTwoDiscoveryPolls(t *testing.T) {
	shared := sharedEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: testenv.ToolsBin(t), KubeVersion: testenv.KubeVersion(t), Log: progressLog{}})
	if err != nil {
		t.Fatalf("start a control plane of the test's own: %v", err)
	}
	t.Cleanup(c.Stop)
	if _, err := installCRDs(c.RestConfig(), flinkOperatorCRDDir(t)); err != nil {
		t.Fatalf("install the Flink operator's CRDs: %v", err)
	}
	fe := startFlinkEnvOn(t, &env{c: c, binary: shared.binary}, "flink-nocrd", flinkEnvOptions{targets: 1})
	ns := fe.targetNS[0]
	target, _ := fe.createTarget(t, ns)
	dep := name("held")
	fe.createDeployment(t, dep, target, jarURI(1), "RUNNING")
	fe.awaitFlinkDeployment(t, flinkDeploymentWithin, ns, dep, "created", nil)
	waitUntil(t, waitFor, "the finalizer on deployment "+dep, func() (bool, []string) {
		f := fe.configMap(t, dep).Finalizers
		return slices.Contains(f, flinkClusterFinalizer), f
	})

	// flinkgate stops; the operator's CRD goes (its FlinkDeployments with it).
	port := fe.webhookPort(t)
	fe.fg.Stop()
	const crd = "flinkdeployments.flink.apache.org"
	if err := fe.dc.Resource(crdGVR).Delete(ctx, crd, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete crd %s: %v", crd, err)
	}
	waitUntil(t, time.Minute, "crd "+crd+" gone", func() (bool, error) {
		_, err := fe.dc.Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})

	// flinkgate starts again, leads and waits for the CRD.
	fe.start(t, port, nil)
	waitUntil(t, time.Minute, "the new leader to report the CRD missing", func() (bool, string) {
		v := metricSamples(httpGet(t, fe.fg.MetricsURL()+"/metrics"))["flinkgate_flink_operator_crd_missing"]
		return v == "1", v
	})

	// The Deployment is deleted: it goes by the next discovery poll; two
	// polls and the API's latency bound it.
	began := time.Now()
	if err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Delete(ctx, dep, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete deployment %s: %v", dep, err)
	}
	within := 2*flinkcluster.DefaultCRDPoll + 5*time.Second
	waitUntil(t, within, "deployment "+dep+" gone while the FlinkDeployment CRD is missing", func() (bool, []string) {
		cm, err := fe.admin.CoreV1().ConfigMaps(fe.platformNS).Get(ctx, dep, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, []string{err.Error()}
		}
		return false, cm.Finalizers
	})
	t.Logf("the deployment went %s after its delete (discovery poll %s)", time.Since(began).Round(time.Millisecond), flinkcluster.DefaultCRDPoll)
}
