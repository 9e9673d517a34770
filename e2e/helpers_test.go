//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/cluster"
	"flinkgate.io/flinkgate/internal/resource"
)

// suite is a test's view of the shared control plane: kubectl as admin, the
// platform namespace its ConfigMaps go to, and the flinkgate serving it.
type suite struct {
	c      *cluster.Cluster
	fg     *cluster.Flinkgate
	binary string
	ns     string
}

// admissionSuite is the shared flinkgate serving platformNS.
func admissionSuite(t *testing.T) *suite {
	t.Helper()
	e := sharedEnv(t)
	logOnFailure(t, e.fg)
	return &suite{c: e.c, fg: e.fg, binary: e.binary, ns: platformNS}
}

// names counts the names handed out, so no two tests (nor two runs with
// -count) share an object.
var names atomic.Int64

// name returns a fresh ConfigMap name starting with base.
func name(base string) string { return fmt.Sprintf("%s-%d", base, names.Add(1)) }

// kubectl runs kubectl and returns stdout, stderr and whether it succeeded.
func (s *suite) kubectl(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if stdin != "" {
		return s.c.KubectlInput(ctx, stdin, args...)
	}
	return s.c.Kubectl(ctx, args...)
}

func (s *suite) mustKubectl(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := s.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// apply is `kubectl apply -f -` of a manifest that must be admitted; it
// returns kubectl's stderr, where the warnings are.
func (s *suite) apply(t *testing.T, manifest string) string {
	t.Helper()
	_, errOut := s.mustKubectl(t, manifest, "apply", "-f", "-")
	return errOut
}

// denied runs kubectl, which must fail with flinkgate's denial containing want.
func (s *suite) denied(t *testing.T, stdin string, want string, args ...string) {
	t.Helper()
	_, errOut, err := s.kubectl(t, stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded; want a denial containing %q", strings.Join(args, " "), want)
	}
	if !strings.Contains(errOut, "flinkgate.io\" denied the request") || !strings.Contains(errOut, want) {
		t.Fatalf("kubectl %s failed with %q; want flinkgate's denial containing %q", strings.Join(args, " "), errOut, want)
	}
}

type configMap struct {
	Metadata struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Immutable *bool             `json:"immutable"`
	Data      map[string]string `json:"data"`
}

// get reads a ConfigMap of the suite's namespace.
func (s *suite) get(t *testing.T, name string) configMap {
	t.Helper()
	out, _ := s.mustKubectl(t, "", "-n", s.ns, "get", "configmap", name, "-o", "json")
	var cm configMap
	if err := json.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatalf("decode configmap %s: %v", name, err)
	}
	return cm
}

// wantAbsent checks that no ConfigMap name exists in the suite's namespace.
func (s *suite) wantAbsent(t *testing.T, name string) {
	t.Helper()
	_, errOut, err := s.kubectl(t, "", "-n", s.ns, "get", "configmap", name)
	if err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("configmap %s/%s: err %v, stderr %q; want NotFound", s.ns, name, err, errOut)
	}
}

func (s *suite) targetManifest(name, doc string) string {
	return s.manifest(name, resource.KindTarget, doc)
}

func (s *suite) deploymentManifest(name, doc string) string {
	return s.manifest(name, resource.KindDeployment, doc)
}

// manifest is a flinkgate ConfigMap in the suite's namespace.
func (s *suite) manifest(name, kind, doc string) string {
	cm := corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.ns, Labels: map[string]string{resource.LabelKind: kind}},
		Data:       map[string]string{resource.DataKey: doc},
	}
	return mustYAML(cm)
}

// example reads a ConfigMap of examples/, renamed to name in the suite's
// namespace; edit (if not nil) changes its document.
func (s *suite) example(t *testing.T, file, name string, edit func(doc string) string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatalf("decode examples/%s: %v", file, err)
	}
	cm.Name, cm.Namespace = name, s.ns
	if edit != nil {
		doc := cm.Data[resource.DataKey]
		if cm.Data[resource.DataKey] = edit(doc); cm.Data[resource.DataKey] == doc {
			t.Fatalf("the edit left the document of examples/%s unchanged:\n%s", file, doc)
		}
	}
	return mustYAML(cm)
}

// seedTarget creates the seed's target (examples/deployment-target.yaml)
// under a fresh name and returns the name.
func (s *suite) seedTarget(t *testing.T) string {
	t.Helper()
	target := name("staging")
	s.apply(t, s.example(t, "deployment-target.yaml", target, nil))
	return target
}

// exampleDeployment is examples/deployment.yaml under name, on target.
func (s *suite) exampleDeployment(t *testing.T, name, target string) string {
	t.Helper()
	return s.example(t, "deployment.yaml", name, func(doc string) string {
		return strings.Replace(doc, "deploymentTargetName: staging", "deploymentTargetName: "+target, 1)
	})
}

func mustYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // only fixed, encodable types come here
	}
	return string(b)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor bounds every wait for something to take effect.
const waitFor = 30 * time.Second

// pollEvery spaces out the attempts of every poll.
const pollEvery = 100 * time.Millisecond

// poll is the suite's one poll: it asks cond at once and then pollEvery
// after each answer until cond holds or timeout passes, and returns
// whether it held and cond's last word on why not (a string or an error).
func poll[W any](timeout time.Duration, cond func() (bool, W)) (bool, W) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok || !time.Now().Before(deadline) {
			return ok, why
		}
		// The pause runs from the end of an attempt, however long it took.
		tick.Reset(pollEvery)
		<-tick.C
	}
}

// waitUntil polls cond until it holds, failing t if timeout passes first.
func waitUntil[W any](t testing.TB, timeout time.Duration, what string, cond func() (bool, W)) {
	t.Helper()
	if ok, why := poll(timeout, cond); !ok {
		t.Fatalf("waited %s for %s; last: %v", timeout, what, why)
	}
}
