//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// The Apache Flink Kubernetes Operator's CRDs (release-1.15.0, unmodified)
// installed into the e2e API server, so every FlinkDeployment flinkgate
// would write is checked against the operator's real schema. The Java
// operator does not run here.

// flinkOperatorCRDsEnv names the directory holding the operator's CRDs. Not
// set, it is ../shared/flink-operator/release-1.15.0 from the module root:
// the repository is cloned next to shared/.
const flinkOperatorCRDsEnv = "FLINKGATE_FLINK_OPERATOR_CRDS"

var flinkOperatorCRDFiles = []string{
	"flinkdeployments.flink.apache.org-v1.yml",
	"flinksessionjobs.flink.apache.org-v1.yml",
	"flinkstatesnapshots.flink.apache.org-v1.yml",
}

var (
	crdGVR             = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	flinkDeploymentGVR = schema.GroupVersionResource{Group: "flink.apache.org", Version: "v1beta1", Resource: "flinkdeployments"}
)

// crdsEstablishedWithin is the bound on installing the CRDs.
const crdsEstablishedWithin = 30 * time.Second

// flinkOperatorCRDDir returns the CRD directory; when it or a CRD is
// missing the test fails under FLINKGATE_REQUIRE_TOOLS=1 and is skipped
// otherwise.
func flinkOperatorCRDDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(flinkOperatorCRDsEnv)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("find the module root: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "flink-operator", "release-1.15.0")
	}
	for _, f := range flinkOperatorCRDFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			msg := fmt.Sprintf("the Flink operator's CRD %s is missing (%v); set %s to the directory holding the release-1.15.0 CRDs", f, err, flinkOperatorCRDsEnv)
			if os.Getenv("FLINKGATE_REQUIRE_TOOLS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return dir
}

// moduleRoot is the directory of the go.mod above the working directory
// (the package's directory under go test).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// flinkCRDs installs the operator's CRDs into the shared API server once
// per test binary and waits until they are Established; it returns how
// long that took.
var flinkCRDs struct {
	once    sync.Once
	elapsed time.Duration
	err     error
}

// It looks for the CRDs before starting the shared control plane, so a
// missing directory fails (or skips) at once.
func installFlinkOperatorCRDs(t *testing.T) (*env, time.Duration) {
	t.Helper()
	dir := flinkOperatorCRDDir(t)
	e := sharedEnv(t)
	flinkCRDs.once.Do(func() {
		flinkCRDs.elapsed, flinkCRDs.err = installCRDs(e.c.RestConfig(), dir)
	})
	if flinkCRDs.err != nil {
		t.Fatalf("install the Flink operator's CRDs from %s: %v", dir, flinkCRDs.err)
	}
	return e, flinkCRDs.elapsed
}

func installCRDs(cfg *rest.Config, dir string) (time.Duration, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), crdsEstablishedWithin+30*time.Second)
	defer cancel()
	began := time.Now()
	var names []string
	for _, f := range flinkOperatorCRDFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return 0, err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return 0, fmt.Errorf("read %s: %w", f, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if _, err := dc.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return 0, fmt.Errorf("create %s: %w", f, err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		var failed error
		ok, why := poll(time.Until(began.Add(crdsEstablishedWithin)), func() (bool, string) {
			established, why, err := crdEstablished(ctx, dc, name)
			if err != nil {
				failed = err
				return true, ""
			}
			return established, why
		})
		if failed != nil {
			return 0, failed
		}
		if !ok {
			return 0, fmt.Errorf("%s is not Established %s after creating it: %s", name, crdsEstablishedWithin, why)
		}
	}
	return time.Since(began), nil
}

func crdEstablished(ctx context.Context, dc dynamic.Interface, name string) (bool, string, error) {
	u, err := dc.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", fmt.Errorf("get crd %s: %w", name, err)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" {
			return m["status"] == "True", fmt.Sprintf("Established is %v: %v", m["status"], m["message"]), nil
		}
	}
	return false, "no Established condition yet", nil
}

// warnings collects the API server's warnings to a client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// strictClient is a dynamic client that collects warnings into w.
func strictClient(t *testing.T, e *env, w *warnings) dynamic.Interface {
	t.Helper()
	cfg := e.c.RestConfig()
	cfg.WarningHandler = w
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("dynamic client: %v", err)
	}
	return dc
}

func TestTheFlinkOperatorCRDsAreEstablishedWithin30Seconds(t *testing.T) {
	_, elapsed := installFlinkOperatorCRDs(t)
	t.Logf("the Flink operator's %d CRDs were Established %s after the first create", len(flinkOperatorCRDFiles), elapsed.Round(time.Millisecond))
}

// goldenFlinkDeployments are the translation tests' golden objects.
func goldenFlinkDeployments(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "internal", "flinkop", "testdata", "golden", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d golden FlinkDeployments under internal/flinkop/testdata/golden; want at least 25", len(files))
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Numbers stay exactly as written (json.Number), as the
		// reconciler will send them.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = obj
	}
	return out
}

// Every golden FlinkDeployment is created with strict field validation, so
// a field the operator's schema lacks, a wrong type or a value outside an
// enum is an error, and any warning fails the test too.
func TestEveryGoldenFlinkDeploymentIsAcceptedByTheOperatorsSchemaWithStrictFieldValidation(t *testing.T) {
	e, _ := installFlinkOperatorCRDs(t)
	ns := name("flinkop-schema")
	if err := e.c.CreateNamespace(context.Background(), ns, nil); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	var w warnings
	dc := strictClient(t, e, &w)
	created := 0
	for base, obj := range goldenFlinkDeployments(t) {
		u := &unstructured.Unstructured{Object: obj}
		// Every golden is the same Deployment; a name per file keeps them
		// apart in one namespace.
		u.SetName(base)
		u.SetNamespace(ns)
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		_, err := dc.Resource(flinkDeploymentGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		cancel()
		if err != nil {
			t.Errorf("%s.json: the API server refused it: %v", base, err)
			continue
		}
		if ws := w.take(); len(ws) > 0 {
			t.Errorf("%s.json: the API server warned: %q", base, ws)
			continue
		}
		created++
	}
	t.Logf("created %d golden FlinkDeployments with fieldValidation=Strict: no errors, no warnings", created)
}

// The schema check above proves something only if the API server applies
// the operator's schema strictly: objects a translation must never produce
// are refused.
func TestTheOperatorsSchemaRefusesWhatATranslationMustNotProduce(t *testing.T) {
	e, _ := installFlinkOperatorCRDs(t)
	ns := name("flinkop-refuse")
	if err := e.c.CreateNamespace(context.Background(), ns, nil); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	base := goldenFlinkDeployments(t)["minimal"]
	if base == nil {
		t.Fatal("the golden minimal.json is missing")
	}
	var w warnings
	dc := strictClient(t, e, &w)
	for _, tc := range []struct {
		name string
		edit func(u *unstructured.Unstructured)
		want string
	}{
		{
			name: "a misspelt field (jarUri for jarURI) is refused as unknown",
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "local:///x.jar", "spec", "job", "jarUri")
			},
			want: `unknown field "spec.job.jarUri"`,
		},
		{
			name: "a Flink version outside the CRD's enum is refused",
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "v1_12", "spec", "flinkVersion")
			},
			want: "spec.flinkVersion",
		},
		{
			name: "a job state the operator does not know is refused",
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "cancelled", "spec", "job", "state")
			},
			want: "spec.job.state",
		},
		{
			name: "a memory given as a number rather than a string is refused",
			edit: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, int64(1024), "spec", "jobManager", "resource", "memory")
			},
			want: "spec.jobManager.resource.memory",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: runtime.DeepCopyJSON(base)}
			u.SetName(name("refused"))
			u.SetNamespace(ns)
			tc.edit(u)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			_, err := dc.Resource(flinkDeploymentGVR).Namespace(ns).Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("create: got %v; want an error naming %s", err, tc.want)
			}
		})
	}
}
