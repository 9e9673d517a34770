package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// jsonPatchOp is one RFC 6902 operation of an admission response.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// createPatch computes the JSON patch that turns before into after. The
// policies change only a ConfigMap's data, immutable flag, labels,
// annotations and finalizers, so those are diffed on the typed object and
// written straight to JSON; anything else differing falls back to the
// generic diff, which gives the same operations in the same order for any
// change.
func createPatch(before, after *corev1.ConfigMap) ([]byte, error) {
	return AppendPatch(nil, before, after)
}

// AppendPatch is createPatch written over dst's bytes when the typed diff
// writes it (and dst has the room).
func AppendPatch(dst []byte, before, after *corev1.ConfigMap) ([]byte, error) {
	var buf [8]typedOp // the usual answer has three operations
	if ops, ok := typedDiff(buf[:0], before, after); ok {
		if len(ops) == 0 {
			return nil, nil
		}
		return encodeTypedPatch(dst, ops), nil
	}
	ops, err := genericDiff(before, after)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return encodePatch(ops)
}

// typedDiff appends to ops the operations on the fields the policies
// change, in the order of their JSON names as genericDiff sorts them; ok is
// false if any other field differs.
func typedDiff(ops []typedOp, a, b *corev1.ConfigMap) (_ []typedOp, ok bool) {
	if a == nil || b == nil || !sameUndiffedFields(a, b) {
		return nil, false
	}
	// JSON tells a nil value (null) from an empty one ("").
	ops = diffMap(ops, "/binaryData", a.BinaryData, b.BinaryData, func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }, bytesValue, bytesMapValue)
	ops = diffMap(ops, "/data", a.Data, b.Data, func(x, y string) bool { return x == y }, stringValue, stringMapValue)
	switch {
	case a.Immutable == nil && b.Immutable != nil:
		ops = append(ops, typedOp{op: "add", path: "/immutable", kind: valueBool, boolean: *b.Immutable})
	case a.Immutable != nil && b.Immutable == nil:
		ops = append(ops, typedOp{op: "remove", path: "/immutable"})
	case a.Immutable != nil && *a.Immutable != *b.Immutable:
		ops = append(ops, typedOp{op: "replace", path: "/immutable", kind: valueBool, boolean: *b.Immutable})
	}
	ops = diffMap(ops, "/metadata/annotations", a.Annotations, b.Annotations, func(x, y string) bool { return x == y }, stringValue, stringMapValue)
	switch {
	case len(a.Finalizers) == 0 && len(b.Finalizers) > 0:
		ops = append(ops, typedOp{op: "add", path: "/metadata/finalizers", kind: valueStrings, strs: b.Finalizers})
	case len(a.Finalizers) > 0 && len(b.Finalizers) == 0:
		ops = append(ops, typedOp{op: "remove", path: "/metadata/finalizers"})
	case !slices.Equal(a.Finalizers, b.Finalizers):
		ops = append(ops, typedOp{op: "replace", path: "/metadata/finalizers", kind: valueStrings, strs: b.Finalizers})
	}
	ops = diffMap(ops, "/metadata/labels", a.Labels, b.Labels, func(x, y string) bool { return x == y }, stringValue, stringMapValue)
	return ops, true
}

// sameUndiffedFields reports whether a and b agree on every field
// typedDiff does not diff (TestTypedDiffKnowsEveryConfigMapField fails
// when the API types gain one). Where it is stricter than reflect.DeepEqual
// (times are compared with their location pointers), a difference only
// sends the object to the generic diff, which is always right.
func sameUndiffedFields(a, b *corev1.ConfigMap) bool {
	am, bm := &a.ObjectMeta, &b.ObjectMeta
	//lint:ignore SA1019 a field like any other here: a request may carry it
	sameSelfLink := am.SelfLink == bm.SelfLink
	return a.TypeMeta == b.TypeMeta && sameSelfLink &&
		am.Name == bm.Name &&
		am.GenerateName == bm.GenerateName &&
		am.Namespace == bm.Namespace &&
		am.UID == bm.UID &&
		am.ResourceVersion == bm.ResourceVersion &&
		am.Generation == bm.Generation &&
		am.CreationTimestamp == bm.CreationTimestamp &&
		samePointee(am.DeletionTimestamp, bm.DeletionTimestamp) &&
		samePointee(am.DeletionGracePeriodSeconds, bm.DeletionGracePeriodSeconds) &&
		// The policies copy the object shallowly, so its owner references
		// and managed fields are usually the very same slices: equal
		// without a walk.
		(sameSlice(am.OwnerReferences, bm.OwnerReferences) || reflect.DeepEqual(am.OwnerReferences, bm.OwnerReferences)) &&
		(sameSlice(am.ManagedFields, bm.ManagedFields) || reflect.DeepEqual(am.ManagedFields, bm.ManagedFields))
}

// samePointee reports whether a and b are both nil or point to equal
// values.
func samePointee[T comparable](a, b *T) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// sameSlice reports whether a and b are the same slice, which
// reflect.DeepEqual would find equal.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (a == nil) == (b == nil) && (len(a) == 0 || &a[0] == &b[0])
}

// valueKind says which of a typedOp's fields holds its value.
type valueKind uint8

const (
	valueNone valueKind = iota // remove: no value
	valueString
	valueBool
	valueStrings
	valueStringMap
	valueBytes
	valueBytesMap
)

// typedOp is one operation of the typed diff. Its value is held in the
// field of its kind rather than boxed in an interface, and a map key is
// kept apart from the field's pointer and escaped only as it is written.
type typedOp struct {
	op, path string
	key      string // with hasKey: a token appended to path
	hasKey   bool
	kind     valueKind
	boolean  bool
	str      string
	strs     []string
	strMap   map[string]string
	bytes    []byte
	bytesMap map[string][]byte
}

// The values of the typed diff's operations.
func stringValue(v string) typedOp               { return typedOp{kind: valueString, str: v} }
func stringMapValue(v map[string]string) typedOp { return typedOp{kind: valueStringMap, strMap: v} }
func bytesValue(v []byte) typedOp                { return typedOp{kind: valueBytes, bytes: v} }
func bytesMapValue(v map[string][]byte) typedOp  { return typedOp{kind: valueBytesMap, bytesMap: v} }

// diffMap diffs a map field that JSON omits when empty, key by key in
// sorted order; one and whole make an operation holding a map value or the
// whole map.
func diffMap[V any](ops []typedOp, path string, a, b map[string]V, equal func(x, y V) bool, one func(V) typedOp, whole func(map[string]V) typedOp) []typedOp {
	switch {
	case len(a) == 0 && len(b) == 0:
		return ops
	case len(a) == 0:
		op := whole(b)
		op.op, op.path = "add", path
		return append(ops, op)
	case len(b) == 0:
		return append(ops, typedOp{op: "remove", path: path})
	}
	var buf [16]string // sorted without an allocation for the usual few keys
	keys := buf[:0]
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		var op typedOp
		switch {
		case !inB:
			op.op = "remove"
		case !inA:
			op = one(bv)
			op.op = "add"
		case !equal(av, bv):
			op = one(bv)
			op.op = "replace"
		default:
			continue
		}
		op.path, op.key, op.hasKey = path, k, true
		ops = append(ops, op)
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
		if !jsonvalue.Equal(a, b) {
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
		p := path + "/" + jsonvalue.EscapeToken(k)
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
