package resource

import "testing"

func TestAnnotationChanged(t *testing.T) {
	cases := []struct {
		name     string
		old, new map[string]string
		want     bool
	}{
		{"an annotation absent from both is unchanged", nil, map[string]string{"x": "1"}, false},
		{"an annotation with the same value is unchanged", map[string]string{"k": "v"}, map[string]string{"k": "v"}, false},
		{"an added annotation is a change, even empty", nil, map[string]string{"k": ""}, true},
		{"a removed annotation is a change, even an empty one", map[string]string{"k": ""}, map[string]string{}, true},
		{"a new value is a change", map[string]string{"k": "a"}, map[string]string{"k": "b"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := AnnotationChanged(tc.old, tc.new, "k"); got != tc.want {
				t.Errorf("AnnotationChanged = %v, want %v", got, tc.want)
			}
		})
	}
}
