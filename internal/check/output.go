package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/policy"
	"flinkgate.io/flinkgate/internal/resource"
)

// Format is how results are written.
type Format string

const (
	// FormatManifest writes each admitted object as the ConfigMap that would
	// be stored, ready for kubectl apply.
	FormatManifest Format = "manifest"
	// FormatDocument writes each admitted object's resource.yaml alone.
	FormatDocument Format = "document"
	// FormatDiff writes a unified diff of each object as written against
	// the object as stored.
	FormatDiff Format = "diff"
	// FormatJSON writes one JSON report for machines.
	FormatJSON Format = "json"
)

// Formats lists the formats, for flag help.
var Formats = []Format{FormatManifest, FormatDocument, FormatDiff, FormatJSON, FormatFlinkDeployment}

// String implements flag.Value.
func (f *Format) String() string { return string(*f) }

// Set implements flag.Value.
func (f *Format) Set(s string) error {
	for _, known := range Formats {
		if Format(s) == known {
			*f = known
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q; use one of %v", s, Formats)
}

// NoCluster is said when no cluster was asked: every input was checked as a
// CREATE, so what is already stored did not count.
const NoCluster = "no cluster was asked (no --kubeconfig): every object was checked as a CREATE, and objects that already exist (an UPDATE of an immutable target is denied; deployments are patched by the stored target) were not considered"

// Write renders results: objects on out; warnings, denials and a summary on
// diag, the way kubectl prints them, so out can be piped to kubectl apply.
// FormatJSON writes everything to out. cluster says whether the stored
// objects were read; when not, the summary says so.
func Write(out, diag io.Writer, format Format, results []Result, skipped []Skipped, cluster bool) error {
	if format == FormatJSON {
		return writeJSON(out, results, skipped, cluster)
	}
	first := true
	for i := range results {
		r := &results[i]
		for _, w := range r.Warnings {
			fmt.Fprintf(diag, "Warning: %s: %s\n", r.Source, w)
		}
		if !r.Allowed {
			fmt.Fprintf(diag, "Error from server (%s): error when %s %q: admission webhook %q denied the request: %s\n",
				r.Status.Reason, r.verb(), r.Source, r.Webhook(), r.Status.Message)
			continue
		}
		if format == FormatFlinkDeployment {
			wrote, err := writeFlinkDeployment(out, diag, r, first)
			if err != nil {
				return err
			}
			first = first && !wrote
			continue
		}
		var text string
		switch format {
		case FormatDocument:
			text = r.Object.Data[resource.DataKey]
		case FormatDiff:
			d, err := diff(r)
			if err != nil {
				return err
			}
			text = d
		default:
			y, err := manifest(r.Object)
			if err != nil {
				return err
			}
			text = y
		}
		if text == "" {
			continue
		}
		if !first && format != FormatDiff {
			fmt.Fprintln(out, "---")
		}
		first = false
		if _, err := io.WriteString(out, ensureNewline(text)); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(diag, "Skipped: %s: %s %s: %s\n", s.Source, s.Kind, s.Name, s.Why)
	}
	allowed, denied := count(results)
	if !cluster {
		fmt.Fprintf(diag, "Note: %s\n", NoCluster)
	}
	fmt.Fprintf(diag, "flinkgate check: %d allowed, %d denied, %d skipped\n", allowed, denied, len(skipped))
	if format == FormatFlinkDeployment {
		fmt.Fprintf(diag, "flinkgate check: %d of the admitted deployments cannot become a FlinkDeployment\n", Untranslated(results))
	}
	return nil
}

// verb is how kubectl names the failed write.
func (r *Result) verb() string {
	if r.Operation == policy.Update {
		return "updating"
	}
	return "creating"
}

func count(results []Result) (allowed, denied int) {
	for i := range results {
		if results[i].Allowed {
			allowed++
		} else {
			denied++
		}
	}
	return allowed, denied
}

// manifest is a ConfigMap as YAML, without the empty fields that
// marshalling an unsaved object adds.
func manifest(cm *corev1.ConfigMap) (string, error) {
	m, err := objectMap(cm)
	if err != nil {
		return "", err
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode configmap %s as yaml: %w", cm.Name, err)
	}
	return string(y), nil
}

// objectMap is a ConfigMap as generic JSON values, with its type and without
// the null creationTimestamp of an object never stored.
func objectMap(cm *corev1.ConfigMap) (map[string]any, error) {
	c := cm.DeepCopy()
	c.APIVersion, c.Kind = "v1", "ConfigMap"
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode configmap %s: %w", cm.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode configmap %s: %w", cm.Name, err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		// What the API server sets is not part of a manifest to apply: an
		// UPDATE's object is the stored one, with its version and history.
		for _, k := range []string{"creationTimestamp", "resourceVersion", "uid", "generation", "managedFields"} {
			delete(md, k)
		}
	}
	return m, nil
}

func diff(r *Result) (string, error) {
	a, err := manifest(r.Input)
	if err != nil {
		return "", err
	}
	b, err := manifest(r.Object)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: r.Source + " (as written)", ToFile: r.Source + " (as stored)", Context: 3,
	})
}

func ensureNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// jsonReport is the -o json output; its fields are a stable interface for CI.
type jsonReport struct {
	Allowed int `json:"allowed"`
	Denied  int `json:"denied"`
	// ExistingObjectsConsidered is false when no cluster was asked; Note
	// then says what that leaves out.
	ExistingObjectsConsidered bool         `json:"existingObjectsConsidered"`
	Note                      string       `json:"note,omitempty"`
	Results                   []jsonResult `json:"results"`
	Skipped                   []Skipped    `json:"skipped"`
}

type jsonResult struct {
	Source string `json:"source"`
	// Operation is CREATE, or UPDATE when the cluster stores the object.
	Operation string   `json:"operation"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Allowed   bool     `json:"allowed"`
	Warnings  []string `json:"warnings"`
	// Set when denied.
	Webhook string `json:"webhook,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Set when allowed.
	Object   map[string]any `json:"object,omitempty"`
	Document string         `json:"document,omitempty"`
}

func writeJSON(out io.Writer, results []Result, skipped []Skipped, cluster bool) error {
	rep := jsonReport{Results: []jsonResult{}, Skipped: skipped, ExistingObjectsConsidered: cluster}
	if !cluster {
		rep.Note = NoCluster
	}
	if rep.Skipped == nil {
		rep.Skipped = []Skipped{}
	}
	rep.Allowed, rep.Denied = count(results)
	for i := range results {
		r := &results[i]
		jr := jsonResult{Source: r.Source, Operation: string(r.Operation), Kind: r.Kind(), Namespace: r.Input.Namespace, Name: r.Input.Name,
			Allowed: r.Allowed, Warnings: r.Warnings}
		if jr.Warnings == nil {
			jr.Warnings = []string{}
		}
		if r.Allowed {
			m, err := objectMap(r.Object)
			if err != nil {
				return err
			}
			jr.Object = m
			jr.Document = r.Object.Data[resource.DataKey]
		} else {
			jr.Webhook, jr.Reason, jr.Code, jr.Message = r.Webhook(), r.Reason, r.Status.Code, r.Status.Message
		}
		rep.Results = append(rep.Results, jr)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}
