package patchset

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestFindFindsWhatGetFinds(t *testing.T) {
	var doc any
	if err := json.Unmarshal([]byte(`{"a":{"b":[10,{"c":null}],"":{"~/":1}},"s":"x"}`), &doc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		path []string
	}{
		{name: "the root is found", path: nil},
		{name: "a member of a mapping is found", path: []string{"a", "b"}},
		{name: "an element of an array is found", path: []string{"a", "b", "0"}},
		{name: "a null member is found", path: []string{"a", "b", "1", "c"}},
		{name: "an empty key is found", path: []string{"a", "", "~/"}},
		{name: "a missing member is not found", path: []string{"a", "x"}},
		{name: "a member under a missing one is not found", path: []string{"x", "y"}},
		{name: "an index past the end is not found", path: []string{"a", "b", "2"}},
		{name: "the end marker names no element", path: []string{"a", "b", "-"}},
		{name: "an index with a leading zero is not found", path: []string{"a", "b", "01"}},
		{name: "a negative index is not found", path: []string{"a", "b", "-1"}},
		{name: "an empty index is not found", path: []string{"a", "b", ""}},
		{name: "a huge index is not found", path: []string{"a", "b", "99999999999"}},
		{name: "a member of a string is not found", path: []string{"s", "0"}},
		{name: "a member of a number is not found", path: []string{"a", "b", "0", "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := get(doc, tc.path)
			got, ok := find(doc, tc.path)
			if ok != (err == nil) || !reflect.DeepEqual(got, want) {
				t.Errorf("find = %v, %v; get = %v, %v", got, ok, want, err)
			}
		})
	}
}
