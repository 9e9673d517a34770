package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/patchset"
)

// jsonPatchOp is one RFC 6902 operation of an admission response.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// createPatch computes the JSON patch that turns before into after. The
// policies change only a ConfigMap's data, immutable flag, labels,
// annotations and finalizers, so those are diffed on the typed object;
// anything else differing falls back to the generic diff, which gives the
// same operations in the same order for any change.
func createPatch(before, after *corev1.ConfigMap) ([]byte, error) {
	ops, ok := configMapDiff(before, after)
	if !ok {
		var err error
		if ops, err = genericDiff(before, after); err != nil {
			return nil, err
		}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return encodePatch(ops)
}

// configMapDiff diffs the fields the policies change, in the order of
// their JSON names as genericDiff sorts them; ok is false if any other
// field differs.
func configMapDiff(a, b *corev1.ConfigMap) (ops []jsonPatchOp, ok bool) {
	if a == nil || b == nil {
		return nil, false
	}
	ra, rb := *a, *b
	for _, c := range []*corev1.ConfigMap{&ra, &rb} {
		c.Data, c.BinaryData, c.Immutable = nil, nil, nil
		c.Labels, c.Annotations, c.Finalizers = nil, nil, nil
	}
	// The policies copy the object shallowly, so its managed fields and
	// owner references are usually the very same slices: equal without a
	// walk.
	if sameSlice(ra.ManagedFields, rb.ManagedFields) {
		ra.ManagedFields, rb.ManagedFields = nil, nil
	}
	if sameSlice(ra.OwnerReferences, rb.OwnerReferences) {
		ra.OwnerReferences, rb.OwnerReferences = nil, nil
	}
	if !reflect.DeepEqual(ra, rb) {
		return nil, false
	}
	ops = make([]jsonPatchOp, 0, 4)
	// JSON tells a nil value (null) from an empty one ("").
	ops = diffMap(ops, "/binaryData", a.BinaryData, b.BinaryData, func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) })
	ops = diffMap(ops, "/data", a.Data, b.Data, func(x, y string) bool { return x == y })
	switch {
	case a.Immutable == nil && b.Immutable != nil:
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/immutable", Value: *b.Immutable})
	case a.Immutable != nil && b.Immutable == nil:
		ops = append(ops, jsonPatchOp{Op: "remove", Path: "/immutable"})
	case a.Immutable != nil && *a.Immutable != *b.Immutable:
		ops = append(ops, jsonPatchOp{Op: "replace", Path: "/immutable", Value: *b.Immutable})
	}
	ops = diffMap(ops, "/metadata/annotations", a.Annotations, b.Annotations, func(x, y string) bool { return x == y })
	switch {
	case len(a.Finalizers) == 0 && len(b.Finalizers) > 0:
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/finalizers", Value: b.Finalizers})
	case len(a.Finalizers) > 0 && len(b.Finalizers) == 0:
		ops = append(ops, jsonPatchOp{Op: "remove", Path: "/metadata/finalizers"})
	case !slices.Equal(a.Finalizers, b.Finalizers):
		ops = append(ops, jsonPatchOp{Op: "replace", Path: "/metadata/finalizers", Value: b.Finalizers})
	}
	ops = diffMap(ops, "/metadata/labels", a.Labels, b.Labels, func(x, y string) bool { return x == y })
	return ops, true
}

// sameSlice reports whether a and b are the same slice, which
// reflect.DeepEqual would find equal.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (a == nil) == (b == nil) && (len(a) == 0 || &a[0] == &b[0])
}

// diffMap diffs a map field that JSON omits when empty, key by key in
// sorted order.
func diffMap[V any](ops []jsonPatchOp, path string, a, b map[string]V, equal func(x, y V) bool) []jsonPatchOp {
	switch {
	case len(a) == 0 && len(b) == 0:
		return ops
	case len(a) == 0:
		return append(ops, jsonPatchOp{Op: "add", Path: path, Value: b})
	case len(b) == 0:
		return append(ops, jsonPatchOp{Op: "remove", Path: path})
	}
	keys := slices.AppendSeq(make([]string, 0, len(a)+len(b)), maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	// Paths are built only for the keys that change: most do not.
	p := func(k string) string { return path + "/" + patchset.EscapeToken(k) }
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inB:
			ops = append(ops, jsonPatchOp{Op: "remove", Path: p(k)})
		case !inA:
			ops = append(ops, jsonPatchOp{Op: "add", Path: p(k), Value: bv})
		case !equal(av, bv):
			ops = append(ops, jsonPatchOp{Op: "replace", Path: p(k), Value: bv})
		}
	}
	return ops
}

// genericDiff diffs before and after as JSON values: mappings key by key,
// anything else that differs replaced whole.
func genericDiff(before, after any) ([]jsonPatchOp, error) {
	a, err := toJSONValue(before)
	if err != nil {
		return nil, err
	}
	b, err := toJSONValue(after)
	if err != nil {
		return nil, err
	}
	var ops []jsonPatchOp
	diffValues("", a, b, &ops)
	return ops, nil
}

func toJSONValue(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal object: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("unmarshal object: %w", err)
	}
	return out, nil
}

func diffValues(path string, a, b any, ops *[]jsonPatchOp) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !patchset.Equal(a, b) {
			*ops = append(*ops, jsonPatchOp{Op: "replace", Path: path, Value: b})
		}
		return
	}
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := path + "/" + patchset.EscapeToken(k)
		av, inA := am[k]
		bv, inB := bm[k]
		switch {
		case !inB:
			*ops = append(*ops, jsonPatchOp{Op: "remove", Path: p})
		case !inA:
			*ops = append(*ops, jsonPatchOp{Op: "add", Path: p, Value: bv})
		default:
			diffValues(p, av, bv, ops)
		}
	}
}
