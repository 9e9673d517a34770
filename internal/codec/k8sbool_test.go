package codec

import (
	"context"
	"encoding/json"
	"testing"

	"sigs.k8s.io/yaml"
)

// The user guide says documents read as Kubernetes reads manifests
// (sigs.k8s.io/yaml, which kubectl uses): YAML 1.1 booleans, as keys too.
// This holds flinkgate's reader to it for the scalars the guide names.
func TestYAML11ScalarsReadAsKubectlReadsThem(t *testing.T) {
	cases := []struct{ name, raw string }{
		{"y and n as keys are the keys true and false.", "y: 1\nn: 2\n"},
		{"Y and N as keys are the keys true and false.", "Y: 1\nN: 2\n"},
		{"Yes and OFF as keys are the keys true and false.", "Yes: 1\nOFF: 2\n"},
		{"yes, on, no and off as values are booleans.", "a: yes\nb: on\nc: no\nd: off\n"},
		{"y and n as values are booleans.", "a: y\nb: n\n"},
		{"quoted y and n stay strings.", "'y': \"n\"\n"},
		{"010 is octal.", "a: 010\n"},
		{"a merge key merges.", "b: &b {x: 1}\nm: {<<: *b}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := yaml.YAMLToJSON([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Decode(context.Background(), tc.raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := json.Marshal(doc.Tree)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("flinkgate reads %q as %s, sigs.k8s.io/yaml (kubectl) as %s", tc.raw, got, want)
			}
		})
	}
}
