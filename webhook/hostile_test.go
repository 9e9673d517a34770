package webhook

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/resource"
)

// readCorpusFile returns a testdata/hostile file's ConfigMaps and the
// outcome its header expects for each, by name.
func readCorpusFile(t *testing.T, path string) ([]*corev1.ConfigMap, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	expect := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			name, outcome, _ := strings.Cut(rest, " ")
			expect[name] = outcome
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var cms []*corev1.ConfigMap
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return cms, expect
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var cm corev1.ConfigMap
		if err := json.Unmarshal(b, &cm); err != nil {
			t.Fatal(err)
		}
		cm.Namespace = platformNS
		cms = append(cms, &cm)
	}
}

// TestHostileCorpusThroughTheHandler sends every object of testdata/hostile
// to the mutating webhook as a CREATE, targets first, and checks each is
// answered as its file says, within the per-request budget.
func TestHostileCorpusThroughTheHandler(t *testing.T) {
	files, err := filepath.Glob("../testdata/hostile/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cms, expect := readCorpusFile(t, path)
			lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{}}
			s, _ := newTestServer(t, lookup, nil, "")
			h := s.Handler()
			for _, cm := range cms {
				var resp *admissionv1.AdmissionResponse
				u := budget.Measure(func() { resp = post(t, h, "/mutate", review(admissionv1.Create, nil, cm)) })
				got := "allowed"
				if !resp.Allowed {
					got = resp.AuditAnnotations["reason"]
					if got == "" {
						got = "denied"
					}
				}
				t.Logf("%s: %s in %v, %.2f MiB allocated", cm.Name, got, u.Took.Round(time.Microsecond), float64(u.Alloc)/(1<<20))
				if want := expect[cm.Name]; got != want {
					msg := ""
					if resp.Result != nil {
						msg = resp.Result.Message
					}
					t.Errorf("%s: got %s, want %s (%.300s)", cm.Name, got, want, msg)
				}
				if !u.Within() {
					t.Errorf("%s: took %s, beyond the budget", cm.Name, u)
				}
				if cm.Labels[resource.LabelKind] == resource.KindTarget && resp.Allowed {
					lookup.targets[cm.Name] = stored(cm, "staging")
				}
			}
		})
	}
}

// TestTheAPIServersTimeoutStopsTheWork sends a deployment with the timeout
// the API server adds to webhook calls already passed, and expects a "try
// again" answer instead of a patched document.
func TestTheAPIServersTimeoutStopsTheWork(t *testing.T) {
	cases := []struct {
		name, query string
		allowed     bool
	}{
		{"a request whose timeout has passed is answered unavailable", "?timeout=1ns", false},
		{"a request with time left is answered as usual", "?timeout=10s", true},
		{"a request without a timeout is answered as usual", "", true},
	}
	target := configMap("staging", resource.KindTarget, seedTarget)
	lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{"staging": stored(target, "staging")}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, lookup, nil, "")
			resp := post(t, s.Handler(), "/mutate"+tc.query, review(admissionv1.Create, nil, configMap("d", resource.KindDeployment, yamlDeployment)))
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v (%v)", resp.Allowed, tc.allowed, resp.Result)
			}
			if !tc.allowed && (resp.AuditAnnotations["reason"] != "unavailable" || !strings.Contains(resp.Result.Message, "try again")) {
				t.Errorf("got reason %q, message %q; want unavailable with a retry hint", resp.AuditAnnotations["reason"], resp.Result.Message)
			}
		})
	}
}
