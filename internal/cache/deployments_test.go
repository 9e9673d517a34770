package cache

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	toolscache "k8s.io/client-go/tools/cache"

	"flinkgate.io/flinkgate/internal/resource"
)

func deploymentAt(name, target, rv string) *metav1.PartialObjectMetadata {
	m := deploymentMeta(name, target)
	m.UID, m.ResourceVersion = types.UID("uid-"+name), rv
	if target == "" {
		delete(m.Labels, resource.LabelDeploymentTarget)
	}
	return m
}

func TestCompactDeploymentKeepsOnlyWhatTheReadersRead(t *testing.T) {
	deleted := metav1.NewTime(time.Unix(1700000000, 0))
	full := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "d", Namespace: ns, UID: "uid-d", ResourceVersion: "7", Generation: 2,
			Labels:            map[string]string{resource.LabelKind: resource.KindDeployment, resource.LabelDeploymentTarget: "staging"},
			Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...the whole document...}"},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Finalizers:        []string{"x.io/f"},
			OwnerReferences:   []metav1.OwnerReference{{Name: "owner"}},
			DeletionTimestamp: &deleted,
		},
	}
	cases := []struct {
		name string
		in   *metav1.PartialObjectMetadata
		want Deployment
	}{
		{"a terminating deployment keeps its name, uid, version, target and deletion, and nothing else",
			full, Deployment{Namespace: ns, Name: "d", Target: "staging", UID: "uid-d", ResourceVersion: "7", Terminating: true}},
		{"a deployment without the target label has an empty target",
			deploymentAt("e", "", "3"), Deployment{Namespace: ns, Name: "e", UID: "uid-e", ResourceVersion: "3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compactDeployment(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			d, ok := got.(*Deployment)
			if !ok || *d != tc.want {
				t.Errorf("cached %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCompactDeploymentIsKeyedAndVersionedLikeItsConfigMap(t *testing.T) {
	d, _ := compactDeployment(deploymentAt("d", "staging", "42"))
	cases := []struct {
		name string
		got  func() (string, error)
		want string
	}{
		{"the store key is namespace/name", func() (string, error) { return toolscache.DeletionHandlingMetaNamespaceKeyFunc(d) }, ns + "/d"},
		{"the resourceVersion is the ConfigMap's, so an update is not taken for a resync", func() (string, error) {
			return d.(*Deployment).GetObjectMeta().GetResourceVersion(), nil
		}, "42"},
		{"a tombstone is keyed by its key", func() (string, error) {
			return toolscache.DeletionHandlingMetaNamespaceKeyFunc(toolscache.DeletedFinalStateUnknown{Key: ns + "/d", Obj: d})
		}, ns + "/d"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.got()
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// storeOp is one change applied to a deployment store the way the informer
// applies it: transformed, keyed by namespace/name.
type storeOp struct {
	op   string // add, update, delete, replace
	objs []*metav1.PartialObjectMetadata
}

func TestDeploymentStore(t *testing.T) {
	cases := []struct {
		name    string
		ops     []storeOp
		want    map[string][]string // target -> sorted names
		wantLen int
	}{
		{"added deployments are indexed by their target",
			[]storeOp{{"add", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1"), deploymentAt("b", "staging", "2"), deploymentAt("c", "prod", "3")}}},
			map[string][]string{"staging": {"a", "b"}, "prod": {"c"}}, 3},
		{"a deployment relabelled to another target moves to that target's entry",
			[]storeOp{{"add", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1"), deploymentAt("b", "staging", "2")}},
				{"update", []*metav1.PartialObjectMetadata{deploymentAt("a", "prod", "5")}}},
			map[string][]string{"staging": {"b"}, "prod": {"a"}}, 2},
		{"a deployment whose target label is removed leaves the index but stays cached",
			[]storeOp{{"add", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1")}},
				{"update", []*metav1.PartialObjectMetadata{deploymentAt("a", "", "5")}}},
			map[string][]string{}, 1},
		{"a deleted deployment leaves the index, and a target left without deployments has no entry",
			[]storeOp{{"add", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1"), deploymentAt("b", "prod", "2")}},
				{"delete", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1")}}},
			map[string][]string{"prod": {"b"}}, 1},
		{"a relist replaces the whole store and rebuilds the index",
			[]storeOp{{"add", []*metav1.PartialObjectMetadata{deploymentAt("a", "staging", "1"), deploymentAt("b", "staging", "2")}},
				{"replace", []*metav1.PartialObjectMetadata{deploymentAt("b", "prod", "7"), deploymentAt("c", "staging", "8")}}},
			map[string][]string{"staging": {"c"}, "prod": {"b"}}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := toolscache.NewIndexer(toolscache.DeletionHandlingMetaNamespaceKeyFunc, toolscache.Indexers{byTargetIndex: indexByTarget})
			for _, op := range tc.ops {
				var objs []any
				for _, m := range op.objs {
					d, err := compactDeployment(m)
					if err != nil {
						t.Fatal(err)
					}
					objs = append(objs, d)
				}
				var err error
				switch op.op {
				case "add":
					for _, o := range objs {
						err = store.Add(o)
					}
				case "update":
					for _, o := range objs {
						err = store.Update(o)
					}
				case "delete":
					for _, o := range objs {
						err = store.Delete(o)
					}
				case "replace":
					err = store.Replace(objs, "9")
				}
				if err != nil {
					t.Fatalf("%s: %v", op.op, err)
				}
			}
			got := map[string][]string{}
			for _, k := range store.ListIndexFuncValues(byTargetIndex) {
				objs, err := store.ByIndex(byTargetIndex, k)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range objs {
					got[k[len(ns)+1:]] = append(got[k[len(ns)+1:]], o.(*Deployment).Name)
				}
				sort.Strings(got[k[len(ns)+1:]])
			}
			if len(got) != len(tc.want) {
				t.Errorf("index %v, want %v", got, tc.want)
			}
			for target, names := range tc.want {
				if !slices.Equal(got[target], names) {
					t.Errorf("index %v, want %v", got, tc.want)
				}
			}
			if n := len(store.ListKeys()); n != tc.wantLen {
				t.Errorf("store holds %d deployments, want %d", n, tc.wantLen)
			}
		})
	}
}

// TestDeploymentInformerFollowsChanges drives the real informer through a
// fake API: a change the informer hears must reach event handlers (an
// update not taken for a resync) with the old compact record, and move the
// index.
func TestDeploymentInformerFollowsChanges(t *testing.T) {
	cases := []struct {
		name      string
		change    func(context.Context, metadata.ResourceInterface) error
		wantOld   string
		wantIndex map[string][]string
	}{
		{"a relabelled deployment reaches handlers with its old target and moves in the index",
			func(ctx context.Context, c metadata.ResourceInterface) error {
				patch := `{"metadata":{"resourceVersion":"2","labels":{"` + resource.LabelDeploymentTarget + `":"prod"}}}`
				_, err := c.Patch(ctx, "a", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				return err
			},
			"staging", map[string][]string{"staging": nil, "prod": {"a"}}},
		{"a deleted deployment reaches handlers with its last target and leaves the index",
			func(ctx context.Context, c metadata.ResourceInterface) error {
				return c.Delete(ctx, "a", metav1.DeleteOptions{})
			},
			"staging", map[string][]string{"staging": nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, meta := started(t, nil, []runtime.Object{deploymentAt("a", "staging", "1")})
			inf := c.DeploymentInformers()[ns]
			oldTargets := make(chan string, 10)
			if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				UpdateFunc: func(old, _ any) { oldTargets <- old.(*Deployment).Target },
				DeleteFunc: func(old any) {
					if d, ok := old.(toolscache.DeletedFinalStateUnknown); ok {
						old = d.Obj
					}
					oldTargets <- old.(*Deployment).Target
				},
			}); err != nil {
				t.Fatal(err)
			}
			if err := tc.change(context.Background(), meta.Resource(configMaps).Namespace(ns)); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-oldTargets:
				if got != tc.wantOld {
					t.Errorf("handler saw old target %q, want %q", got, tc.wantOld)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no event reached the handler within 10s")
			}
			for target, want := range tc.wantIndex {
				var names []string
				for _, d := range ByTarget(inf, ns, target) {
					names = append(names, d.Name)
				}
				if !slices.Equal(names, want) {
					t.Errorf("target %s has %v, want %v", target, names, want)
				}
			}
		})
	}
}

func TestDeploymentInformerKeepsOnlyTheTargetIndex(t *testing.T) {
	inf, err := NewDeploymentInformer(nil, ns)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range inf.GetIndexer().GetIndexers() {
		names = append(names, name)
	}
	if !slices.Equal(names, []string{byTargetIndex}) {
		t.Errorf("indexes %v, want only %q: every index holds a set of every deployment's key", names, byTargetIndex)
	}
}
