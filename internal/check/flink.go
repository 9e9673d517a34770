package check

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/internal/resource/configmap"
)

// FormatFlinkDeployment writes, for each admitted deployment, the Flink
// Kubernetes Operator FlinkDeployment that reconciling it would create.
const FormatFlinkDeployment Format = "flinkdeployment"

// TranslateDeployments fills in each admitted deployment's FlinkDeployment,
// or why it cannot have one. serviceAccount is the Flink pods' service
// account unless a document names its own, which must be it or one of
// allowedServiceAccounts. Offline the deployment has no
// UID yet, so it gets no UID label.
func TranslateDeployments(ctx context.Context, results []Result, serviceAccount string, allowedServiceAccounts []string) error {
	for i := range results {
		r := &results[i]
		if !r.Allowed || r.Kind() != resource.KindDeployment || r.Object == nil {
			continue
		}
		doc, err := resource.DecodeDocument(ctx, configmap.Object(r.Object), resource.KindDeployment)
		if err != nil {
			return fmt.Errorf("%s: read the admitted deployment again: %w", r.Source, err)
		}
		fd, err := flinkop.Translate(flinkop.Input{
			Namespace: r.Object.Namespace, Name: r.Object.Name, UID: string(r.Object.UID),
			Tree:                   doc.Tree,
			TargetNamespace:        r.Object.Annotations[resource.AnnotationTargetNamespace],
			ServiceAccount:         serviceAccount,
			AllowedServiceAccounts: allowedServiceAccounts,
		})
		if err != nil {
			r.Untranslatable = err
			continue
		}
		r.FlinkDeployment = fd
	}
	return nil
}

// Untranslated counts the admitted deployments that cannot become a
// FlinkDeployment.
func Untranslated(results []Result) int {
	n := 0
	for i := range results {
		if results[i].Untranslatable != nil {
			n++
		}
	}
	return n
}

// writeFlinkDeployment writes r's FlinkDeployment as YAML, or on diag why
// it has none; it reports whether it wrote an object.
func writeFlinkDeployment(out, diag io.Writer, r *Result, first bool) (bool, error) {
	if r.Untranslatable != nil {
		fmt.Fprintf(diag, "Error: %q: deployment %q cannot become a FlinkDeployment: %v\n", r.Source, r.Object.Name, r.Untranslatable)
		return false, nil
	}
	if r.FlinkDeployment == nil {
		return false, nil
	}
	y, err := yaml.Marshal(r.FlinkDeployment)
	if err != nil {
		return false, fmt.Errorf("encode the FlinkDeployment of %s: %w", r.Source, err)
	}
	if !first {
		fmt.Fprintln(out, "---")
	}
	if _, err := out.Write(y); err != nil {
		return false, fmt.Errorf("write output: %w", err)
	}
	return true, nil
}
