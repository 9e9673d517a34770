// Package benchdata holds the documents every performance measurement
// uses, so that the load benchmark (cmd/loadbench) and the package
// benchmarks measure the same target and deployment.
package benchdata

import (
	"fmt"
	"strings"
)

// TargetDocument is the target's resource.yaml: ten adds under
// flinkConfiguration, like issue 12's patch set.
func TargetDocument() string {
	var b strings.Builder
	b.WriteString("kind: DeploymentTarget\nspec:\n  kubernetes:\n    namespace: staging\n  deploymentPatchSet:\n")
	for i := range 10 {
		fmt.Fprintf(&b, "  - op: add\n    path: /spec/template/spec/flinkConfiguration/bench.key%d\n    value: value-%d\n", i, i)
	}
	return b.String()
}

// DeploymentDocument is the deployment's resource.yaml, naming the target
// "staging".
const DeploymentDocument = `kind: Deployment
spec:
  deploymentTargetName: staging
  template:
    spec:
      artifact:
        kind: jar
        jarUri: https://repo1.maven.org/maven2/org/apache/flink/flink-examples-streaming/1.20.0/flink-examples-streaming-1.20.0-TopSpeedWindowing.jar
      parallelism: 2
      flinkConfiguration:
        taskmanager.numberOfTaskSlots: "2"
`
