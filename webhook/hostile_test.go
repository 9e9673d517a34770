package webhook

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/budget"
	"flinkgate.io/flinkgate/internal/hostile"
	"flinkgate.io/flinkgate/internal/resource"
)

// corpusConfigMap is a corpus object as a ConfigMap in the platform namespace.
func corpusConfigMap(o hostile.Object) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: platformNS, Labels: o.Labels},
		Data:       o.Data,
	}
}

// TestHostileCorpusThroughTheHandler sends every object of testdata/hostile
// to the mutating webhook as a CREATE, targets first, and checks each is
// answered as its file says, within the per-request budget.
func TestHostileCorpusThroughTheHandler(t *testing.T) {
	files, err := hostile.Files("../testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			objs, err := hostile.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lookup := &fakeLookup{targets: map[string]*corev1.ConfigMap{}}
			s, _ := newTestServer(t, lookup, nil, "")
			h := s.Handler()
			for _, o := range objs {
				cm := corpusConfigMap(o)
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
				if want := o.Expect; got != want {
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
