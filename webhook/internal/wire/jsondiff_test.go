package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"flinkgate.io/flinkgate/internal/jsonvalue"
)

// genericPatch is the patch the generic diff makes, the reference the typed
// diff must match byte for byte.
func genericPatch(t *testing.T, before, after *corev1.ConfigMap) []byte {
	t.Helper()
	ops, err := genericDiff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		return nil
	}
	want, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// TestTypedDiffKnowsEveryConfigMapField fails when the API types gain a
// field: sameUndiffedFields compares the fields it knows one by one, so a
// new field would otherwise be ignored by the typed diff. Add it there (or
// to the diffed fields) and here.
func TestTypedDiffKnowsEveryConfigMapField(t *testing.T) {
	cases := []struct {
		name  string
		typ   reflect.Type
		known []string
	}{
		{name: "a ConfigMap has the fields the typed diff knows", typ: reflect.TypeFor[corev1.ConfigMap](),
			known: []string{"TypeMeta", "ObjectMeta", "Immutable", "Data", "BinaryData"}},
		{name: "a TypeMeta has the fields the typed diff knows", typ: reflect.TypeFor[metav1.TypeMeta](),
			known: []string{"Kind", "APIVersion"}},
		{name: "an ObjectMeta has the fields the typed diff knows", typ: reflect.TypeFor[metav1.ObjectMeta](),
			known: []string{"Name", "GenerateName", "Namespace", "SelfLink", "UID", "ResourceVersion", "Generation", "CreationTimestamp",
				"DeletionTimestamp", "DeletionGracePeriodSeconds", "Labels", "Annotations", "OwnerReferences", "Finalizers", "ManagedFields"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for f := range tc.typ.Fields() {
				got = append(got, f.Name)
			}
			if !slices.Equal(got, tc.known) {
				t.Errorf("%s has the fields %v; the typed diff knows %v", tc.typ, got, tc.known)
			}
		})
	}
}

// configMapLeaves lists the fields of a ConfigMap a change can touch, as
// paths of field indexes: TypeMeta and ObjectMeta are walked into, every
// other field is one leaf.
func configMapLeaves() (paths [][]int, names []string) {
	cm := reflect.TypeFor[corev1.ConfigMap]()
	for i := range cm.NumField() {
		f := cm.Field(i)
		if f.Name == "TypeMeta" || f.Name == "ObjectMeta" {
			for j := range f.Type.NumField() {
				paths = append(paths, []int{i, j})
				names = append(names, f.Name+"."+f.Type.Field(j).Name)
			}
			continue
		}
		paths = append(paths, []int{i})
		names = append(names, f.Name)
	}
	return paths, names
}

// setNonZero gives v a fresh value that is not its zero value and that
// JSON shows: nothing of it is shared with any other object.
func setNonZero(v reflect.Value) {
	switch v.Interface().(type) {
	case metav1.Time:
		v.Set(reflect.ValueOf(metav1.NewTime(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))))
		return
	case metav1.FieldsV1: // raw JSON
		v.Set(reflect.ValueOf(*metav1.NewFieldsV1(`{"f:changed":{}}`)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("changed")
	case reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8:
		v.SetUint(1)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		setNonZero(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		setNonZero(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		val := reflect.New(v.Type().Elem()).Elem()
		setNonZero(val)
		m.SetMapIndex(reflect.ValueOf("changed-key"), val)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				setNonZero(v.Field(i))
			}
		}
	default:
		panic(fmt.Sprintf("setNonZero: no value for %s", v.Type()))
	}
}

// TestEveryConfigMapFieldChangedAloneGivesTheGenericPatch changes each
// field of a ConfigMap alone, including fields the API types may add: the
// typed diff must either write the generic diff's patch or leave the object
// to it, never miss the change.
func TestEveryConfigMapFieldChangedAloneGivesTheGenericPatch(t *testing.T) {
	paths, names := configMapLeaves()
	for i, path := range paths {
		for _, shallow := range []bool{false, true} {
			t.Run(fmt.Sprintf("a change of %s alone (shallow copy: %v) gives the generic diff's patch", names[i], shallow), func(t *testing.T) {
				before := appliedConfigMap(t)
				after := before.DeepCopy()
				if shallow { // the policies' copies share what they do not change
					after = new(*before)
				}
				setNonZero(reflect.ValueOf(after).Elem().FieldByIndex(path))
				got, err := createPatch(before, after)
				if err != nil {
					t.Fatal(err)
				}
				want := genericPatch(t, before, after)
				if len(want) == 0 {
					t.Fatalf("the change of %s is not seen in JSON; the test must change it visibly", names[i])
				}
				if !bytes.Equal(got, want) {
					t.Errorf("patch\n%s\nwant the generic diff's\n%s", got, want)
				}
			})
		}
	}
}

// appliedConfigMap is a deployment ConfigMap with every metadata field
// kubectl apply and the API server fill.
func appliedConfigMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	var rv struct {
		Request struct {
			Object *corev1.ConfigMap `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(appliedReview(t, "CREATE"), &rv); err != nil {
		t.Fatal(err)
	}
	return rv.Request.Object
}

// TestRandomConfigMapChangesGiveTheGenericPatch diffs random changes of the
// fields the typed diff writes, with keys and values that need JSON and
// JSON pointer escapes. Its operations, written as encoding/json writes
// their generic form, must be its patch; and where every string is valid
// UTF-8 (as every decoded review's are: the generic diff's round trip
// through JSON replaces invalid bytes, which changes keys and their order),
// that patch must be the generic diff's. (The generic diff also drops the
// value of an added null binary value, an add without a value that the
// typed diff writes as null, as it always has.)
func TestRandomConfigMapChangesGiveTheGenericPatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	valid := false // this change's strings are all valid UTF-8
	randomText := func(rng *rand.Rand) string {
		if s := randomText(rng); !valid {
			return s
		} else {
			return strings.ToValidUTF8(s, "\ufffd")
		}
	}
	compared := 0
	strMap := func() map[string]string {
		switch rng.IntN(5) {
		case 0:
			return nil
		case 1:
			return map[string]string{}
		}
		m := map[string]string{}
		for range 1 + rng.IntN(20) { // past the sort buffer's 16 keys too
			m[randomText(rng)] = randomText(rng)
		}
		return m
	}
	bytesMap := func() map[string][]byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return map[string][]byte{}
		}
		m := map[string][]byte{}
		for range 1 + rng.IntN(3) {
			m[randomText(rng)] = []byte(randomText(rng))
			if rng.IntN(4) == 0 {
				m[randomText(rng)] = nil
			}
		}
		return m
	}
	strs := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{randomText(rng), randomText(rng)}
	}
	immutable := func() *bool {
		if rng.IntN(3) == 0 {
			return nil
		}
		return new(rng.IntN(2) == 0)
	}
	// change edits a map the way a policy would: some keys kept, some
	// replaced, removed or added.
	change := func(m map[string]string) map[string]string {
		if rng.IntN(4) == 0 {
			return strMap()
		}
		out := maps.Clone(m)
		if out == nil {
			out = map[string]string{}
		}
		for k := range out {
			switch rng.IntN(4) {
			case 0:
				delete(out, k)
			case 1:
				out[k] = randomText(rng)
			}
		}
		for range rng.IntN(3) {
			out[randomText(rng)] = randomText(rng)
		}
		return out
	}
	for i := range 3000 {
		valid = i%2 == 0
		before := appliedConfigMap(t)
		before.Labels, before.Annotations, before.Data = strMap(), strMap(), strMap()
		before.BinaryData, before.Finalizers, before.Immutable = bytesMap(), strs(), immutable()
		after := new(*before)
		after.Labels, after.Annotations, after.Data = change(before.Labels), change(before.Annotations), change(before.Data)
		if rng.IntN(3) == 0 {
			after.BinaryData = bytesMap()
		}
		if rng.IntN(3) == 0 {
			after.Finalizers = strs()
		}
		if rng.IntN(3) == 0 {
			after.Immutable = immutable()
		}
		got, err := createPatch(before, after)
		if err != nil {
			t.Fatal(err)
		}
		ops, ok := typedDiff(nil, before, after)
		if !ok {
			t.Fatalf("change %d touches only diffed fields but was left to the generic diff", i)
		}
		var want []byte
		if len(ops) > 0 {
			generic := make([]jsonPatchOp, len(ops))
			for j, op := range ops {
				generic[j] = asJSONPatchOp(op)
			}
			if want, err = json.Marshal(generic); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("change %d: patch\n%s\nwant its operations as encoding/json writes them\n%s", i, got, want)
		}
		if validUTF8(before) && validUTF8(after) && !slices.ContainsFunc(slices.Collect(maps.Values(after.BinaryData)), func(v []byte) bool { return v == nil }) {
			compared++
			if want := genericPatch(t, before, after); !bytes.Equal(got, want) {
				t.Fatalf("change %d: patch\n%s\nwant the generic diff's\n%s", i, got, want)
			}
		}
	}
	if compared < 1000 {
		t.Errorf("only %d changes were compared with the generic diff", compared)
	}
}

// asJSONPatchOp is op in the generic diff's form.
func asJSONPatchOp(op typedOp) jsonPatchOp {
	out := jsonPatchOp{Op: op.op, Path: op.path}
	if op.hasKey {
		out.Path += "/" + jsonvalue.EscapeToken(op.key)
	}
	switch op.kind {
	case valueString:
		out.Value = op.str
	case valueBool:
		out.Value = op.boolean
	case valueStrings:
		out.Value = op.strs
	case valueStringMap:
		out.Value = op.strMap
	case valueBytes:
		out.Value = op.bytes
	case valueBytesMap:
		out.Value = op.bytesMap
	}
	return out
}

// validUTF8 reports whether every string of the diffed fields is valid
// UTF-8.
func validUTF8(c *corev1.ConfigMap) bool {
	ok := true
	for _, m := range []map[string]string{c.Labels, c.Annotations, c.Data} {
		for k, v := range m {
			ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
		}
	}
	for k := range c.BinaryData {
		ok = ok && utf8.ValidString(k)
	}
	for _, f := range c.Finalizers {
		ok = ok && utf8.ValidString(f)
	}
	return ok
}
