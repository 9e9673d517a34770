//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"

	"flinkgate.io/flinkgate/internal/resource"
)

// TestTheMatchConditionEvaluatesOnEveryValidConfigMap checks that the
// chart's matchCondition changes-what-flinkgate-reads never fails to
// evaluate (with failurePolicy Fail an evaluation error, a cost limit
// included, rejects the write) on ConfigMaps at the API server's own
// limits: the largest document, many annotation keys, many labels,
// immutable false, and every way of writing one.
func TestTheMatchConditionEvaluatesOnEveryValidConfigMap(t *testing.T) {
	s := admissionSuite(t)
	target := s.seedTarget(t)
	doc := "kind: Deployment\nspec:\n  deploymentTargetName: " + target + "\n"
	cms := s.c.Client().CoreV1().ConfigMaps(s.ns)
	// tinyKeys are n distinct annotation or label keys of a few
	// characters.
	tinyKeys := func(prefix string, n int) map[string]string {
		m := make(map[string]string, n)
		for i := 0; i < n; i++ {
			m[fmt.Sprintf("%s%x", prefix, i)] = ""
		}
		return m
	}
	cases := []struct {
		name  string
		shape func(cm *corev1.ConfigMap)
	}{
		{"a ConfigMap whose document is near 1 MiB", func(cm *corev1.ConfigMap) {
			cm.Data[resource.DataKey] = doc + "  notes: " + strings.Repeat("x", 1000*1000) + "\n"
		}},
		// About as many keys as the API server's 256 KiB of annotations
		// holds: a loop over the keys cost time with the square of their
		// number and failed past 50,000 (docs/user-guide.md#what-flinkgate-sees).
		{"a ConfigMap with 50,000 annotation keys", func(cm *corev1.ConfigMap) {
			cm.Annotations = tinyKeys("a", 50000)
		}},
		{"a ConfigMap with 256 KiB of flinkgate.io/ annotations", func(cm *corev1.ConfigMap) {
			cm.Annotations = map[string]string{}
			for i := 0; i < 12000; i++ {
				cm.Annotations[fmt.Sprintf("flinkgate.io/n%x", i)] = "v"
			}
		}},
		{"a ConfigMap with 60,000 labels", func(cm *corev1.ConfigMap) {
			for k := range tinyKeys("l", 60000) {
				cm.Labels[k] = "v"
			}
		}},
		{"a ConfigMap with immutable false and empty annotations", func(cm *corev1.ConfigMap) {
			cm.Immutable = new(bool)
			cm.Annotations = map[string]string{}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			job := name("cel")
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: job, Labels: map[string]string{resource.LabelKind: resource.KindDeployment}},
				Data:       map[string]string{resource.DataKey: doc},
			}
			tc.shape(cm)
			if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Cleanup(func() { _ = cms.Delete(context.Background(), job, metav1.DeleteOptions{}) })
			// The control: the same write to a twin without the kind label,
			// which no webhook and no matchCondition sees, is what the API
			// server costs on its own.
			twin := cm.DeepCopy()
			twin.Name = job + "-twin"
			delete(twin.Labels, resource.LabelKind)
			if _, err := cms.Create(ctx, twin, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create the twin: %v", err)
			}
			t.Cleanup(func() { _ = cms.Delete(context.Background(), twin.Name, metav1.DeleteOptions{}) })
			start := time.Now()
			if _, err := cms.Patch(ctx, twin.Name, types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/x":"1"}}}`), metav1.PatchOptions{}); err != nil {
				t.Fatalf("annotate the twin: %v", err)
			}
			t.Logf("control, the twin annotated: %s", time.Since(start).Round(time.Millisecond))
			writes := []struct {
				what  string
				write func() error
			}{
				{"an annotation outside flinkgate.io/ (merge patch)", func() error {
					_, err := cms.Patch(ctx, job, types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/x":"1"}}}`), metav1.PatchOptions{})
					return err
				}},
				{"the whole object written back (PUT, as kubectl replace and edit do)", func() error {
					got, err := cms.Get(ctx, job, metav1.GetOptions{})
					if err != nil {
						return err
					}
					got.Annotations["example.com/y"] = "2"
					_, err = cms.Update(ctx, got, metav1.UpdateOptions{})
					return err
				}},
				{"a server-side apply of one annotation", func() error {
					_, err := cms.Apply(ctx, applycorev1.ConfigMap(job, s.ns).WithAnnotations(map[string]string{"example.com/z": "3"}), metav1.ApplyOptions{FieldManager: "cel-test", Force: true})
					return err
				}},
				{"a merge patch that sets metadata.annotations to null", func() error {
					_, err := cms.Patch(ctx, job, types.MergePatchType, []byte(`{"metadata":{"annotations":null}}`), metav1.PatchOptions{})
					return err
				}},
				{"a changed document (sent to flinkgate)", func() error {
					_, err := cms.Patch(ctx, job, types.MergePatchType, []byte(`{"data":{"resource.yaml":`+fmt.Sprintf("%q", doc+"  # changed\n")+`}}`), metav1.PatchOptions{})
					return err
				}},
			}
			for _, w := range writes {
				start := time.Now()
				if err := w.write(); err != nil {
					t.Errorf("%s: %v", w.what, err)
					continue
				}
				t.Logf("%s: %s", w.what, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
