package hostile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	const file = `# a target and a deployment
# expect: t allowed
# expect: d too_large
apiVersion: v1
kind: ConfigMap
metadata:
  name: t
  labels: {flinkgate.io/kind: DeploymentTarget}
data:
  resource.yaml: "kind: DeploymentTarget"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  labels: {flinkgate.io/kind: Deployment}
data:
  resource.yaml: "kind: Deployment"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unlisted
`
	cases := []struct {
		name string
		i    int
		want Object
	}{
		{"The first object is read with its name, labels, data and expected outcome.", 0,
			Object{File: "f.yaml", Name: "t", Labels: map[string]string{"flinkgate.io/kind": "DeploymentTarget"}, Data: map[string]string{"resource.yaml": "kind: DeploymentTarget"}, Expect: "allowed"}},
		{"Objects keep the order of the file.", 1,
			Object{File: "f.yaml", Name: "d", Labels: map[string]string{"flinkgate.io/kind": "Deployment"}, Data: map[string]string{"resource.yaml": "kind: Deployment"}, Expect: "too_large"}},
		{"An object the header does not name expects nothing.", 2, Object{File: "f.yaml", Name: "unlisted"}},
	}
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := ReadFile(path)
	if err != nil || len(objs) != 3 {
		t.Fatalf("ReadFile = %d objects, %v; want 3", len(objs), err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(objs[tc.i], tc.want) {
				t.Errorf("object %d = %+v, want %+v", tc.i, objs[tc.i], tc.want)
			}
		})
	}
}

func TestTheBombsAreSmall(t *testing.T) {
	cases := []struct {
		name, doc    string
		max, aliases int
	}{
		{"The alias bomb is under 1 KB, with 72 aliases.", AliasBomb(), 1 << 10, 72},
		{"The string bomb is about 10 KB, with 200 aliases.", StringBomb(), 11 << 10, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.doc) > tc.max || strings.Count(tc.doc, "*") != tc.aliases {
				t.Errorf("%d bytes, %d aliases; want at most %d bytes and %d aliases", len(tc.doc), strings.Count(tc.doc, "*"), tc.max, tc.aliases)
			}
		})
	}
}
