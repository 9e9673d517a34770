package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates the CustomResourceDefinitions of the given files (one
// CRD each, YAML) unless they exist, and returns once the API server
// serves every one (Established), or an error after timeout.
func (c *Cluster) InstallCRDs(ctx context.Context, files []string, timeout time.Duration) error {
	dc, err := dynamic.NewForConfig(c.RestConfig())
	if err != nil {
		return fmt.Errorf("build dynamic client: %w", err)
	}
	began := time.Now()
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read crd: %w", err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("decode crd %s: %w", f, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if _, err := dc.Resource(crdResource).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create crd %s: %w", filepath.Base(f), err)
		}
		names = append(names, u.GetName())
	}
	for _, name := range names {
		if err := poll(ctx, timeout-time.Since(began), "crd "+name+" Established", nil, func(ctx context.Context) (bool, error) {
			u, err := dc.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cond := range conds {
				if m, _ := cond.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, fmt.Errorf("crd %s is not Established yet", name)
		}); err != nil {
			return err
		}
	}
	c.logf("%d CRDs Established in %s", len(names), time.Since(began).Round(time.Millisecond))
	return nil
}
