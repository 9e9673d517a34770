//go:build e2e

// This file is just over 400 lines because it is one chart lifecycle (helm and self TLS modes
// under Helm 3 and Helm 4, a rotation under load) with the steps it runs beside it.

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/selftls"
	"flinkgate.io/flinkgate/internal/testenv"
)

// lifecycle is one control plane on which the chart is installed, upgraded
// and uninstalled with each pinned helm in turn.
type lifecycle struct {
	c      *cluster.Cluster
	binary string
	chart  string
	port   int
}

// TestChartLifecycleUnderHelm3AndHelm4 installs, upgrades and uninstalls the
// chart with Helm 3 and Helm 4, in helm mode (the certificate survives the
// upgrade) and in self mode (flinkgate, running as the chart's ServiceAccount,
// creates its Secret and injects the caBundle, which the upgrade keeps). Under
// Helm 4 it also forces a CA and a serving rotation under continuous
// admission traffic, and not one request may fail.
func TestChartLifecycleUnderHelm3AndHelm4(t *testing.T) {
	bin := testenv.ToolsBin(t)
	if _, err := os.Stat(filepath.Join(bin, "helm3")); err != nil {
		t.Fatalf("the pinned Helm 3 is missing from FLINKGATE_TOOLS_BIN (run hack/tools.sh): %v", err)
	}
	chart, err := filepath.Abs(filepath.Join("..", "charts", "flinkgate"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: bin, KubeVersion: testenv.KubeVersion(t), Log: progressLog{}})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(c.Stop)
	if err := c.CreateNamespace(ctx, platformNS, nil); err != nil {
		t.Fatal(err)
	}
	l := &lifecycle{c: c, binary: sharedEnv(t).binary, chart: chart, port: freeLoopbackPort(t)}

	for _, helm := range []string{"helm3", "helm"} {
		if !t.Run(helm+": helm mode keeps its certificate across an upgrade and leaves nothing after uninstall", func(t *testing.T) {
			l.helmMode(t, helm)
		}) {
			t.FailNow()
		}
		if !t.Run(helm+": self mode gets its certificate from flinkgate, keeps the injected caBundle across an upgrade and leaves nothing after uninstall", func(t *testing.T) {
			l.selfMode(t, helm, helm == "helm")
		}) {
			t.FailNow()
		}
	}
}

func (l *lifecycle) helm(t *testing.T, tool string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, errOut, err := l.c.HelmWith(ctx, tool, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, errOut)
	}
	return out
}

func (l *lifecycle) values(mode string) []string {
	return []string{"--set", "webhook.url=https://127.0.0.1:" + strconv.Itoa(l.port), "--set", "tls.mode=" + mode}
}

func (l *lifecycle) helmMode(t *testing.T, tool string) {
	out := l.helm(t, tool, append([]string{"install", chartRelease, l.chart, "-n", platformNS}, l.values("helm")...)...)
	// Helm 3 renders NOTES.txt only in a real install, so the chart tests
	// check them here.
	if !strings.Contains(out, "NOTES:") || !strings.Contains(out, "--webhook-addr=:"+strconv.Itoa(l.port)) {
		t.Errorf("%s install printed no notes telling how to start flinkgate:\n%s", tool, out)
	}
	before := l.secret(t)
	mb, vb := l.bundles(t)
	if len(mb) == 0 || !bytes.Equal(mb, before.Data["ca.crt"]) || !bytes.Equal(vb, mb) {
		t.Fatalf("after install the caBundles are not the Secret's ca.crt")
	}
	l.helm(t, tool, append([]string{"upgrade", chartRelease, l.chart, "-n", platformNS, "--set", "logLevel=debug"}, l.values("helm")...)...)
	after := l.secret(t)
	for _, key := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if !bytes.Equal(before.Data[key], after.Data[key]) {
			t.Errorf("%s upgrade changed %s", tool, key)
		}
	}
	if ma, va := l.bundles(t); !bytes.Equal(ma, mb) || !bytes.Equal(va, vb) {
		t.Errorf("%s upgrade changed a caBundle", tool)
	}
	l.uninstallLeavesNothing(t, tool)
}

func (l *lifecycle) selfMode(t *testing.T, tool string, rotate bool) {
	l.helm(t, tool, append([]string{"install", chartRelease, l.chart, "-n", platformNS}, l.values("self")...)...)
	manifest := l.helm(t, tool, "get", "manifest", chartRelease, "-n", platformNS)
	if strings.Contains(manifest, "\nkind: Secret\n") || strings.Contains(manifest, "caBundle") {
		t.Fatalf("the self-mode release renders certificate material:\n%s", manifest)
	}

	fg := l.startSelfTLS(t)
	sec := l.secret(t)
	vwc, err := l.c.Client().AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), chartFullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if refs := sec.OwnerReferences; len(refs) != 1 || refs[0].UID != vwc.UID {
		t.Errorf("the Secret's ownerReferences %+v do not name the ValidatingWebhookConfiguration %s", refs, vwc.UID)
	}
	mb, vb := l.bundles(t)
	if len(mb) == 0 || !bytes.Equal(mb, sec.Data["ca.crt"]) || !bytes.Equal(vb, mb) {
		t.Fatal("flinkgate did not inject the Secret's ca.crt into both webhook configurations")
	}
	if err := l.admit(context.Background(), l.c.Client(), "selftls-first"); err != nil {
		t.Fatalf("the API server cannot call flinkgate with the injected caBundle: %v", err)
	}
	l.probe(t, sec.Data["ca.crt"])

	if rotate {
		l.rotateUnderLoad(t, fg)
	}

	// flinkgate stops first, so a caBundle the upgrade removed could not be
	// put back before it is checked.
	fg.Stop()
	sec = l.secret(t)
	mb, vb = l.bundles(t)
	l.helm(t, tool, append([]string{"upgrade", chartRelease, l.chart, "-n", platformNS, "--set", "logLevel=debug"}, l.values("self")...)...)
	if ma, va := l.bundles(t); !bytes.Equal(ma, mb) || !bytes.Equal(va, vb) {
		t.Errorf("%s upgrade changed the caBundle flinkgate injected", tool)
	}
	if after := l.secret(t); after.ResourceVersion != sec.ResourceVersion {
		t.Errorf("%s upgrade changed flinkgate's Secret", tool)
	}
	l.uninstallLeavesNothing(t, tool)
	// The Secret is flinkgate's, not the release's: the garbage collector
	// deletes it after its owner, the ValidatingWebhookConfiguration. This
	// control plane runs no garbage collector, so the test does it.
	if err := l.c.Client().CoreV1().Secrets(platformNS).Delete(context.Background(), chartTLSSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startSelfTLS runs flinkgate in self mode as the chart's ServiceAccount with
// short rotation periods; it returns once /readyz passes, which needs the
// caBundle injected.
func (l *lifecycle) startSelfTLS(t *testing.T) *cluster.Flinkgate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	token, err := l.c.ServiceAccountToken(ctx, platformNS, chartWebhookName, 0)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := l.c.KubeconfigFor(token)
	if err != nil {
		t.Fatal(err)
	}
	fg, err := l.c.StartFlinkgate(ctx, cluster.FlinkgateOptions{
		Binary: l.binary, SelfTLS: true, Kubeconfig: kubeconfig,
		PlatformNamespace: platformNS, Namespaces: []string{platformNS}, WebhookPort: l.port,
		ExtraArgs: []string{
			"--self-tls-secret=" + chartTLSSecret, "--self-tls-webhook-configuration=" + chartFullname,
			"--self-tls-hosts=127.0.0.1", "--self-tls-sync-period=500ms", "--self-tls-overlap=3s",
			"--self-tls-cert-validity=1h", "--self-tls-ca-validity=4h", "--rbac-preflight=off",
		},
	})
	if err != nil {
		t.Fatalf("start flinkgate in self mode as %s: %v", chartWebhookName, err)
	}
	t.Cleanup(func() {
		fg.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(fg.LogPath()); err == nil {
				t.Logf("flinkgate log:\n%s", tail(string(b), 60))
			}
		}
	})
	return fg
}

// rotateUnderLoad sends ~50 admission requests a second for 30 s while a CA
// rotation and then a serving rotation are forced; every request must get
// flinkgate's answer. With one replica, which injects and loads in the same
// sync, a rotation without the overlaps also passes here (tried); that the
// order of the steps never leaves a certificate untrusted is what
// selftls.TestNoMomentOfDistrust proves.
func (l *lifecycle) rotateUnderLoad(t *testing.T, fg *cluster.Flinkgate) {
	t.Helper()
	cfg := l.c.RestConfig()
	cfg.QPS, cfg.Burst = 500, 500
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oldSigner := l.secret(t).Data["ca-signer.crt"]

	const rate, duration = 50, 30 * time.Second
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	start := time.Now()
	// The rotations are requested from their own goroutine, so the load
	// keeps its pace while they are.
	rotations := make(chan struct{})
	go func() {
		defer close(rotations)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for _, r := range []struct {
			at   time.Duration
			what string
		}{{3 * time.Second, selftls.RotateCA}, {18 * time.Second, selftls.RotateServing}} {
			reach(start.Add(r.at), tick)
			l.requestRotation(t, r.what)
		}
	}()
	// Request i leaves at start + i/rate, so a slow moment is caught up
	// rather than dropped.
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for i := range int64(rate * duration / time.Second) {
		reach(start.Add(time.Duration(i)*time.Second/rate), tick)
		sent.Add(1)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := l.admit(ctx, client, "selftls-load-"+strconv.FormatInt(i%100, 10)); err != nil {
				failed.Add(1)
				mu.Lock()
				if len(failures) < 5 {
					failures = append(failures, fmt.Sprintf("at %s: %v", time.Since(start).Round(time.Millisecond), err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-rotations
	took := time.Since(start)
	t.Logf("%d admission requests in %s (%.1f/s) during a forced CA and serving rotation, %d failed",
		sent.Load(), took.Round(time.Millisecond), float64(sent.Load())/took.Seconds(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d admission requests failed during the rotations: %s", failed.Load(), sent.Load(), strings.Join(failures, "; "))
	}
	if took > duration+5*time.Second {
		t.Errorf("the requests took %s; the load did not keep %d/s", took, rate)
	}
	// The rotations happened while the load ran: flinkgate counts each step.
	samples := metricSamples(httpGet(t, fg.MetricsURL()+"/metrics"))
	ca, _ := strconv.Atoi(samples[`flinkgate_tls_self_rotations_total{what="ca"}`])
	serving, _ := strconv.Atoi(samples[`flinkgate_tls_self_rotations_total{what="serving"}`])
	t.Logf("rotation steps counted by flinkgate: ca %d, serving %d", ca, serving)
	if ca < 4 || serving < 3 {
		t.Errorf("flinkgate counted %d CA and %d serving steps; want the creation and the three CA rotation steps, and the first, promoted and forced serving certificates", ca, serving)
	}

	// The rotations really happened: a new CA signs the served certificate
	// and is the only one trusted.
	sec := l.secret(t)
	if bytes.Equal(sec.Data["ca-signer.crt"], oldSigner) {
		t.Fatal("the CA was not rotated")
	}
	if _, ok := sec.Annotations[selftls.RotateAnnotation]; ok {
		t.Error("a rotation request is still pending")
	}
	if mb, vb := l.bundles(t); !bytes.Equal(mb, sec.Data["ca-signer.crt"]) || !bytes.Equal(vb, mb) {
		t.Error("the caBundles are not exactly the new CA after the rotation")
	}
	served := servedCertificate(t, fg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sec.Data["ca-signer.crt"])
	if _, err := served.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the served certificate does not chain to the new CA: %v", err)
	}
}

func (l *lifecycle) requestRotation(t *testing.T, what string) {
	t.Helper()
	secrets := l.c.Client().CoreV1().Secrets(platformNS)
	for range 20 {
		sec := l.secret(t)
		sec.Annotations[selftls.RotateAnnotation] = what
		_, err := secrets.Update(context.Background(), sec, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			t.Fatalf("request a %s rotation: %v", what, err)
		}
	}
	t.Fatalf("request a %s rotation: the Secret kept changing", what)
}

// admit asks the API server to create a DeploymentTarget without storing it:
// both webhooks must be called and allow it.
func (l *lifecycle) admit(ctx context.Context, client kubernetes.Interface, name string) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: platformNS, Labels: map[string]string{"flinkgate.io/kind": "DeploymentTarget"}},
		Data:       map[string]string{"resource.yaml": "kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: staging\n"},
	}
	created, err := client.CoreV1().ConfigMaps(platformNS).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return err
	}
	if created.Annotations["flinkgate.io/namespace"] != "staging" {
		return fmt.Errorf("the mutating webhook did not annotate the target: %v", created.Annotations)
	}
	return nil
}

// probe runs `flinkgate probe`, the helm test hook's command, against the
// running flinkgate with the CA from its Secret.
func (l *lifecycle) probe(t *testing.T, ca []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := execCommand(ctx, l.binary, "probe", "--url=https://127.0.0.1:"+strconv.Itoa(l.port), "--ca-file="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("flinkgate probe: %v\n%s", err, out)
	}
}

func servedCertificate(t *testing.T, fg *cluster.Flinkgate) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(fg.WebhookURL(), "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reads the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func (l *lifecycle) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := l.c.Client().CoreV1().Secrets(platformNS).Get(context.Background(), chartTLSSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Secret %s: %v", chartTLSSecret, err)
	}
	return s
}

func (l *lifecycle) bundles(t *testing.T) (mutating, validating []byte) {
	t.Helper()
	api := l.c.Client().AdmissionregistrationV1()
	m, err := api.MutatingWebhookConfigurations().Get(context.Background(), chartFullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := api.ValidatingWebhookConfigurations().Get(context.Background(), chartFullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].ClientConfig.CABundle
}

// uninstallLeavesNothing uninstalls the release and checks that no object
// of its manifest remains.
func (l *lifecycle) uninstallLeavesNothing(t *testing.T, tool string) {
	t.Helper()
	manifest := l.helm(t, tool, "get", "manifest", chartRelease, "-n", platformNS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := l.c.KubectlInput(ctx, manifest, "get", "-f", "-", "-o", "name")
	if err != nil || len(nonEmptyLines(out)) == 0 {
		t.Fatalf("before uninstall kubectl finds none of the release's objects: %v", err)
	}
	l.helm(t, tool, "uninstall", chartRelease, "-n", platformNS)
	out, errOut, err := l.c.KubectlInput(ctx, manifest, "get", "-f", "-", "-o", "name", "--ignore-not-found")
	if err != nil {
		t.Fatalf("kubectl get after uninstall: %v\n%s", err, errOut)
	}
	if left := nonEmptyLines(out); len(left) > 0 {
		t.Errorf("after %s uninstall these objects remain: %v", tool, left)
	}
}

func execCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}

// reach waits on tick until the schedule's time when: a step that is late
// goes at once, so the schedule is caught up rather than shifted.
func reach(when time.Time, tick *time.Ticker) {
	for time.Now().Before(when) {
		<-tick.C
	}
}
