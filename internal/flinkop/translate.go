// Package flinkop translates a patched VVP-style Deployment document into
// the Apache Flink Kubernetes Operator's FlinkDeployment
// (flink.apache.org/v1beta1, release 1.15) that would run it. It is a pure
// function of the document: no API machinery, no client, no clock, so the
// same document always gives the same object, byte for byte.
//
// What has no counterpart in the operator is a *DenialError naming the
// field, never silently dropped. docs/user-guide.md has the mapping table.
package flinkop

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// The FlinkDeployment's kind, and the labels that tie it to its Deployment.
const (
	APIVersion = "flink.apache.org/v1beta1"
	Kind       = "FlinkDeployment"

	LabelDeploymentNamespace = "flinkgate.io/deployment-namespace"
	LabelDeploymentName      = "flinkgate.io/deployment-name"
	LabelDeploymentUID       = "flinkgate.io/deployment-uid"

	// MainContainer is the operator's name for the Flink container in a pod
	// template; settings for it go into a container of this name.
	MainContainer = "flink-main-container"

	// MaxNameLength is the operator's limit on a FlinkDeployment's name: the
	// name becomes the Flink cluster id, and Services get suffixes.
	MaxNameLength = 45
)

// Defaults for what the document leaves out. The operator needs memory for
// both kinds of pod; the image defaults to the official Flink image of the
// document's Flink version.
const (
	DefaultJobManagerCPU     = "1"
	DefaultJobManagerMemory  = "1Gi"
	DefaultTaskManagerCPU    = "1"
	DefaultTaskManagerMemory = "2Gi"
	DefaultImageRepository   = "flink"
)

// flinkVersions are the values of spec.flinkVersion in the release-1.15.0
// CRD; VVP writes them "1.20".
var flinkVersions = []string{"1.13", "1.14", "1.15", "1.16", "1.17", "1.18", "1.19", "1.20", "2.0", "2.1", "2.2"}

// ForbiddenConfigKeys are the Flink configuration keys the operator sets
// itself and its validator rejects in a FlinkDeployment's
// flinkConfiguration.
var ForbiddenConfigKeys = []string{"high-availability.cluster-id", "kubernetes.cluster-id", "kubernetes.namespace"}

// Input is what the translation reads: the Deployment ConfigMap's identity,
// its document after the target's patch set, and where it runs.
type Input struct {
	// Namespace, Name and UID are the Deployment ConfigMap's; UID is empty
	// for one not stored yet, and then not labelled.
	Namespace, Name, UID string
	// Tree is the patched document (numbers as json.Number, as the codec
	// decodes them).
	Tree map[string]any
	// TargetNamespace is the target's resolved namespace.
	TargetNamespace string
	// ServiceAccount is used unless the document names one
	// (spec.template.spec.kubernetes.serviceAccountName).
	ServiceAccount string
	// AllowedServiceAccounts are the others a document may name: a pod
	// runs with its ServiceAccount's token, so naming any would let a job
	// author borrow any identity in the target namespace (flinkgate's own
	// included when that is the platform namespace).
	AllowedServiceAccounts []string
}

// DenialError is a part of the document that has no FlinkDeployment
// counterpart. Field is a dotted path into the document.
type DenialError struct {
	Field  string
	Reason string
}

func (e *DenialError) Error() string {
	return e.Field + ": " + e.Reason
}

func deny(field, format string, args ...any) error {
	return &DenialError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// FlinkDeployment is the object the translation produces. Fields are in the
// order the operator's documentation shows them.
type FlinkDeployment struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata is the object's metadata.
type Metadata struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

// Spec is the FlinkDeployment's spec.
type Spec struct {
	Image              string            `json:"image"`
	FlinkVersion       string            `json:"flinkVersion"`
	ServiceAccount     string            `json:"serviceAccount"`
	FlinkConfiguration map[string]string `json:"flinkConfiguration,omitempty"`
	PodTemplate        map[string]any    `json:"podTemplate,omitempty"`
	JobManager         Component         `json:"jobManager"`
	TaskManager        Component         `json:"taskManager"`
	Job                Job               `json:"job"`
}

// Component is spec.jobManager or spec.taskManager.
type Component struct {
	Replicas *int64   `json:"replicas,omitempty"`
	Resource Resource `json:"resource"`
}

// Resource is a component's CPU (a number) and memory (a quantity).
type Resource struct {
	CPU    json.Number `json:"cpu"`
	Memory string      `json:"memory"`
}

// Job is spec.job.
type Job struct {
	JarURI                string   `json:"jarURI"`
	EntryClass            string   `json:"entryClass,omitempty"`
	Args                  []string `json:"args,omitempty"`
	Parallelism           *int64   `json:"parallelism,omitempty"`
	State                 string   `json:"state"`
	UpgradeMode           string   `json:"upgradeMode"`
	AllowNonRestoredState *bool    `json:"allowNonRestoredState,omitempty"`
}

// The fields each level of the document may have. Ignored ones are read by
// nothing (VVP bookkeeping with no operator counterpart that changes no
// behaviour worth denying); every other unknown field is denied, so a
// setting is never dropped without a word.
var (
	topFields      = []string{"apiVersion", "kind", "metadata", "spec", "status"}
	specFields     = []string{"deploymentTargetName", "deploymentTargetId", "state", "upgradeStrategy", "restoreStrategy", "template", "sessionClusterName", "maxSavepointCreationAttempts", "maxJobCreationAttempts", "jobFailureExpirationTime"}
	templateFields = []string{"metadata", "spec"}
	tspecFields    = []string{"artifact", "parallelism", "numberOfTaskManagers", "resources", "flinkConfiguration", "logging", "kubernetes"}
	artifactFields = []string{"kind", "jarUri", "entryClass", "mainArgs", "additionalDependencies", "flinkVersion", "flinkImageRegistry", "flinkImageRepository", "flinkImageTag"}
	resourceFields = []string{"cpu", "memory"}
	k8sFields      = []string{"pods", "serviceAccountName"}
	podsFields     = []string{"labels", "annotations", "nodeSelector", "affinity", "tolerations", "envVars", "volumeMounts", "securityContext", "imagePullSecrets"}
)

// Translate returns the FlinkDeployment for in, or a *DenialError for the
// first field (in the order of the checks) that cannot be translated. The
// object shares the values it copies (affinity, tolerations, ...) with
// in.Tree, which it never modifies.
func Translate(in Input) (*FlinkDeployment, error) {
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	t := in.Tree
	if err := onlyFields(t, "", topFields); err != nil {
		return nil, err
	}
	spec, err := object(t, "spec", "spec", true)
	if err != nil {
		return nil, err
	}
	if err := onlyFields(spec, "spec.", specFields); err != nil {
		return nil, err
	}
	if v, ok := spec["sessionClusterName"]; ok && v != nil && v != "" {
		return nil, deny("spec.sessionClusterName", "session clusters have no counterpart: each FlinkDeployment is its own application cluster; remove spec.sessionClusterName to run the job in a cluster of its own")
	}
	tmpl, err := object(spec, "template", "spec.template", true)
	if err != nil {
		return nil, err
	}
	if err := onlyFields(tmpl, "spec.template.", templateFields); err != nil {
		return nil, err
	}
	if md, ok := tmpl["metadata"]; ok && md != nil {
		return nil, deny("spec.template.metadata", "VVP's template annotations switch VVP features that the operator does not have; remove spec.template.metadata (pod labels and annotations go in spec.template.spec.kubernetes.pods)")
	}
	ts, err := object(tmpl, "spec", "spec.template.spec", true)
	if err != nil {
		return nil, err
	}
	if err := onlyFields(ts, "spec.template.spec.", tspecFields); err != nil {
		return nil, err
	}

	fd := &FlinkDeployment{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata: Metadata{
			Name: in.Name, Namespace: in.TargetNamespace,
			Labels: map[string]string{
				LabelDeploymentNamespace: in.Namespace,
				LabelDeploymentName:      in.Name,
			},
		},
		Spec: Spec{ServiceAccount: in.ServiceAccount},
	}
	// A Deployment not stored yet (flinkgate check offline) has no UID; an
	// empty label would look like one.
	if in.UID != "" {
		fd.Metadata.Labels[LabelDeploymentUID] = in.UID
	}
	if err := translateArtifact(ts, fd); err != nil {
		return nil, err
	}
	if err := translateJob(spec, fd); err != nil {
		return nil, err
	}
	if fd.Spec.Job.Parallelism, err = positiveInt(ts, "parallelism", "spec.template.spec.parallelism"); err != nil {
		return nil, err
	}
	if fd.Spec.TaskManager.Replicas, err = positiveInt(ts, "numberOfTaskManagers", "spec.template.spec.numberOfTaskManagers"); err != nil {
		return nil, err
	}
	if err := translateResources(ts, fd); err != nil {
		return nil, err
	}
	if fd.Spec.FlinkConfiguration, err = translateConfig(ts); err != nil {
		return nil, err
	}
	if err := translateKubernetes(ts, fd, in); err != nil {
		return nil, err
	}
	if fd.Spec.ServiceAccount == "" {
		return nil, deny("spec.template.spec.kubernetes.serviceAccountName", "no service account for the Flink pods: name one here, or give flinkgate a default")
	}
	return fd, nil
}

// dns1035Label is the operator's rule for a FlinkDeployment's name.
var dns1035Label = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func checkName(name string) error {
	if len(name) > MaxNameLength || !dns1035Label.MatchString(name) {
		return deny("metadata.name", "%q cannot name a FlinkDeployment: the operator needs at most %d lower-case letters, digits and '-', starting with a letter and ending with a letter or digit (it becomes the Flink cluster id); recreate the Deployment under a name such as \"top-speed-windowing\"", name, MaxNameLength)
	}
	return nil
}
