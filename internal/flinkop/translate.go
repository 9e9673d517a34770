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
	"slices"
	"sort"
	"strconv"
	"strings"
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

func translateArtifact(ts map[string]any, fd *FlinkDeployment) error {
	const at = "spec.template.spec.artifact"
	a, err := object(ts, "artifact", at, true)
	if err != nil {
		return err
	}
	if err := onlyFields(a, at+".", artifactFields); err != nil {
		return err
	}
	kind, err := str(a, "kind", at+".kind")
	if err != nil {
		return err
	}
	// VVP's documentation and this project's examples write the kind in
	// either case.
	switch strings.ToUpper(kind) {
	case "", "JAR":
	case "SQLSCRIPT":
		return deny(at+".kind", "SQL script artifacts have no counterpart: a FlinkDeployment runs a JAR; package the SQL in a JAR (for example with the operator's flink-sql-runner example) and use kind JAR")
	case "PYTHON":
		return deny(at+".kind", "Python artifacts are not translated yet; use kind JAR")
	default:
		return deny(at+".kind", "%q is not an artifact kind; use JAR", kind)
	}
	if fd.Spec.Job.JarURI, err = str(a, "jarUri", at+".jarUri"); err != nil {
		return err
	}
	if fd.Spec.Job.JarURI == "" {
		return deny(at+".jarUri", "is missing; a FlinkDeployment runs a JAR, for example local:///opt/flink/usrlib/job.jar or s3://bucket/job.jar")
	}
	if fd.Spec.Job.EntryClass, err = str(a, "entryClass", at+".entryClass"); err != nil {
		return err
	}
	mainArgs, err := str(a, "mainArgs", at+".mainArgs")
	if err != nil {
		return err
	}
	if fd.Spec.Job.Args, err = SplitArgs(mainArgs); err != nil {
		return deny(at+".mainArgs", "%s; quote arguments with spaces in double or single quotes, and close every quote", err)
	}
	if deps, ok := a["additionalDependencies"]; ok && deps != nil {
		l, isList := deps.([]any)
		if !isList || len(l) > 0 {
			return deny(at+".additionalDependencies", "additional dependencies have no counterpart: the operator runs one JAR; build a JAR with its dependencies, or add them to the image")
		}
	}
	version, err := flinkVersion(a, at+".flinkVersion")
	if err != nil {
		return err
	}
	fd.Spec.FlinkVersion = "v" + strings.ReplaceAll(version, ".", "_")
	fd.Spec.Image, err = image(a, at, version)
	return err
}

func flinkVersion(a map[string]any, field string) (string, error) {
	var v string
	switch x := a["flinkVersion"].(type) {
	case nil:
		return "", deny(field, "is missing; the operator needs the Flink version, one of %s", strings.Join(flinkVersions, ", "))
	case string:
		v = x
	case json.Number:
		v = x.String()
	default:
		return "", deny(field, "must be a version such as \"1.20\", got %s", kindOf(x))
	}
	for _, known := range flinkVersions {
		if v == known {
			return v, nil
		}
	}
	return "", deny(field, "%q is not a Flink version the operator (release 1.15) runs; use one of %s", v, strings.Join(flinkVersions, ", "))
}

// image is registry/repository:tag. The repository defaults to "flink" and
// the tag to the Flink version; a tag that is a digest (sha256:...) is
// joined with '@'.
func image(a map[string]any, at, version string) (string, error) {
	registry, err := str(a, "flinkImageRegistry", at+".flinkImageRegistry")
	if err != nil {
		return "", err
	}
	repo, err := str(a, "flinkImageRepository", at+".flinkImageRepository")
	if err != nil {
		return "", err
	}
	tag, err := str(a, "flinkImageTag", at+".flinkImageTag")
	if err != nil {
		return "", err
	}
	if repo == "" {
		repo = DefaultImageRepository
	}
	if tag == "" {
		tag = version
	}
	ref := repo
	if registry != "" {
		ref = strings.TrimSuffix(registry, "/") + "/" + repo
	}
	if strings.HasPrefix(tag, "sha256:") {
		return ref + "@" + tag, nil
	}
	return ref + ":" + tag, nil
}

// translateJob maps state and the upgrade and restore strategies:
//
//	state RUNNING / SUSPENDED → job.state running / suspended
//	state CANCELLED → job.state suspended, upgradeMode stateless: the
//	  operator stops the job without a savepoint and removes the cluster,
//	  as VVP's cancel does
//	restoreStrategy LATEST_SAVEPOINT (VVP's default) → upgradeMode savepoint
//	restoreStrategy LATEST_STATE → last-state
//	restoreStrategy NONE → stateless
//	upgradeStrategy STATEFUL (default) → as the restore strategy says
//	upgradeStrategy STATELESS → stateless with restore NONE, last-state with
//	  LATEST_STATE; with LATEST_SAVEPOINT it is denied (no counterpart)
//	upgradeStrategy NONE → denied (the operator always applies changes)
func translateJob(spec map[string]any, fd *FlinkDeployment) error {
	state, err := str(spec, "state", "spec.state")
	if err != nil {
		return err
	}
	upgrade, restore := "STATEFUL", "LATEST_SAVEPOINT"
	if us, err := object(spec, "upgradeStrategy", "spec.upgradeStrategy", false); err != nil {
		return err
	} else if us != nil {
		if err := onlyFields(us, "spec.upgradeStrategy.", []string{"kind"}); err != nil {
			return err
		}
		if k, err := str(us, "kind", "spec.upgradeStrategy.kind"); err != nil {
			return err
		} else if k != "" {
			upgrade = k
		}
	}
	if rs, err := object(spec, "restoreStrategy", "spec.restoreStrategy", false); err != nil {
		return err
	} else if rs != nil {
		if err := onlyFields(rs, "spec.restoreStrategy.", []string{"kind", "allowNonRestoredState"}); err != nil {
			return err
		}
		if k, err := str(rs, "kind", "spec.restoreStrategy.kind"); err != nil {
			return err
		} else if k != "" {
			restore = k
		}
		if v, ok := rs["allowNonRestoredState"]; ok && v != nil {
			b, isBool := v.(bool)
			if !isBool {
				return deny("spec.restoreStrategy.allowNonRestoredState", "must be true or false, got %s", kindOf(v))
			}
			fd.Spec.Job.AllowNonRestoredState = &b
		}
	}
	var mode string
	switch restore {
	case "LATEST_SAVEPOINT":
		mode = "savepoint"
	case "LATEST_STATE":
		mode = "last-state"
	case "NONE":
		mode = "stateless"
	default:
		return deny("spec.restoreStrategy.kind", "%q is not a restore strategy; use LATEST_SAVEPOINT, LATEST_STATE or NONE", restore)
	}
	switch upgrade {
	case "STATEFUL":
	case "STATELESS":
		if restore == "LATEST_SAVEPOINT" {
			return deny("spec.upgradeStrategy.kind", "STATELESS with restore strategy LATEST_SAVEPOINT (restore from an older savepoint without taking a new one) has no counterpart; set spec.restoreStrategy.kind to NONE (start without state) or LATEST_STATE (restore from the latest checkpoint)")
		}
	case "NONE":
		return deny("spec.upgradeStrategy.kind", "NONE (leave the running job alone when the spec changes) has no counterpart: the operator always applies a changed spec; use STATEFUL or STATELESS")
	default:
		return deny("spec.upgradeStrategy.kind", "%q is not an upgrade strategy; use STATEFUL or STATELESS", upgrade)
	}
	switch state {
	case "", "RUNNING":
		fd.Spec.Job.State = "running"
	case "SUSPENDED":
		fd.Spec.Job.State = "suspended"
	case "CANCELLED":
		fd.Spec.Job.State = "suspended"
		mode = "stateless"
	default:
		return deny("spec.state", "%q cannot be asked for; use RUNNING, SUSPENDED or CANCELLED", state)
	}
	fd.Spec.Job.UpgradeMode = mode
	return nil
}

func translateResources(ts map[string]any, fd *FlinkDeployment) error {
	fd.Spec.JobManager.Resource = Resource{CPU: DefaultJobManagerCPU, Memory: DefaultJobManagerMemory}
	fd.Spec.TaskManager.Resource = Resource{CPU: DefaultTaskManagerCPU, Memory: DefaultTaskManagerMemory}
	r, err := object(ts, "resources", "spec.template.spec.resources", false)
	if err != nil || r == nil {
		return err
	}
	if err := onlyFields(r, "spec.template.spec.resources.", []string{"jobmanager", "taskmanager"}); err != nil {
		return err
	}
	for _, c := range []struct {
		key string
		res *Resource
	}{{"jobmanager", &fd.Spec.JobManager.Resource}, {"taskmanager", &fd.Spec.TaskManager.Resource}} {
		at := "spec.template.spec.resources." + c.key
		m, err := object(r, c.key, at, false)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if err := onlyFields(m, at+".", resourceFields); err != nil {
			return err
		}
		if v, ok := m["cpu"]; ok && v != nil {
			n, isNumber := v.(json.Number)
			if f, err := n.Float64(); !isNumber || err != nil || f <= 0 {
				return deny(at+".cpu", "must be a positive number of CPUs such as 1 or 0.5, got %s", describe(v))
			}
			c.res.CPU = n
		}
		if v, ok := m["memory"]; ok && v != nil {
			q, err := MemoryQuantity(v)
			if err != nil {
				return deny(at+".memory", "%s", err)
			}
			c.res.Memory = q
		}
	}
	return nil
}

func translateConfig(ts map[string]any) (map[string]string, error) {
	const at = "spec.template.spec.flinkConfiguration"
	c, err := object(ts, "flinkConfiguration", at, false)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	out := make(map[string]string, len(c))
	for _, k := range sortedKeys(c) {
		for _, f := range ForbiddenConfigKeys {
			if strings.TrimSpace(k) == f {
				return nil, deny(at+"."+k, "the operator sets %s itself and rejects it in a FlinkDeployment; remove it (the cluster ids are the Deployment's name, the namespace is the target's)", k)
			}
		}
		switch v := c[k].(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			return nil, deny(at+"."+k, "must be a string, number or boolean, got %s; Flink configuration values are strings", kindOf(v))
		}
		if err := kubernetesKey(k, out[k], at+"."+k); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AllowedKubernetesConfigKeys are the kubernetes.* Flink configuration
// keys a document may set, besides those starting with
// AllowedKubernetesConfigPrefix (the operator's per-deployment settings):
// sizes and replicas, nothing that picks the pods' identity, network,
// Secrets or pod templates. Flink's kubernetes.* options are read by the
// cluster's own Kubernetes client, past the pod template the translation
// checks, so every other one is denied.
var AllowedKubernetesConfigKeys = []string{
	"kubernetes.jobmanager.cpu", "kubernetes.taskmanager.cpu",
	// Flink 1.18 renamed the two above; both names are read.
	"kubernetes.jobmanager.cpu.amount", "kubernetes.taskmanager.cpu.amount",
	"kubernetes.jobmanager.cpu.limit-factor", "kubernetes.taskmanager.cpu.limit-factor",
	"kubernetes.jobmanager.memory.limit-factor", "kubernetes.taskmanager.memory.limit-factor",
	"kubernetes.jobmanager.replicas",
	restServiceType,
}

// AllowedKubernetesConfigPrefix starts the operator's own settings.
const AllowedKubernetesConfigPrefix = "kubernetes.operator."

// restServiceType may be only ClusterIP: Flink's REST API has no
// authentication and runs any JAR it is sent.
const restServiceType = "kubernetes.rest-service.exposed.type"

func kubernetesKey(k, v, field string) error {
	// Flink trims the keys of its configuration file, so " kubernetes.x"
	// is kubernetes.x to the job manager.
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !strings.HasPrefix(k, "kubernetes.") || strings.HasPrefix(k, AllowedKubernetesConfigPrefix) {
		return nil
	}
	if k == restServiceType {
		if v != "ClusterIP" {
			return deny(field, "%q would expose the Flink REST API, which has no authentication and runs any JAR it is sent, outside the cluster; only ClusterIP is allowed: remove the key or set ClusterIP, and reach the UI with kubectl port-forward", v)
		}
		return nil
	}
	for _, a := range AllowedKubernetesConfigKeys {
		if k == a {
			return nil
		}
	}
	hint := "remove it"
	switch {
	case strings.Contains(k, "service-account"):
		hint = "remove it and name the ServiceAccount in spec.template.spec.kubernetes.serviceAccountName (one the platform allows)"
	case strings.Contains(k, "secret"), strings.Contains(k, "env"):
		hint = "remove it and mount Secrets or set environment variables in spec.template.spec.kubernetes.pods (volumeMounts, envVars)"
	}
	return deny(field, "Flink's kubernetes.* settings can choose the pods' identity, network, secrets or pod templates, which the platform controls, so only %s* and %s are allowed; %s", AllowedKubernetesConfigPrefix, strings.Join(AllowedKubernetesConfigKeys, ", "), hint)
}

func translateKubernetes(ts map[string]any, fd *FlinkDeployment, in Input) error {
	const at = "spec.template.spec.kubernetes"
	k, err := object(ts, "kubernetes", at, false)
	if err != nil || k == nil {
		return err
	}
	if err := onlyFields(k, at+".", k8sFields); err != nil {
		return err
	}
	sa, err := str(k, "serviceAccountName", at+".serviceAccountName")
	if err != nil {
		return err
	}
	if sa != "" {
		if !dns1123Subdomain.MatchString(sa) || len(sa) > 253 {
			return deny(at+".serviceAccountName", "%q is not a ServiceAccount name (a DNS-1123 subdomain)", sa)
		}
		if err := allowedServiceAccount(sa, in, at+".serviceAccountName"); err != nil {
			return err
		}
		fd.Spec.ServiceAccount = sa
	}
	pods, err := object(k, "pods", at+".pods", false)
	if err != nil || pods == nil {
		return err
	}
	fd.Spec.PodTemplate, err = podTemplate(pods, at+".pods")
	return err
}

// allowedServiceAccount denies a ServiceAccount that is neither the
// default nor in the allowlist.
func allowedServiceAccount(sa string, in Input, field string) error {
	var allowed []string
	if in.ServiceAccount != "" {
		allowed = append(allowed, in.ServiceAccount)
	}
	for _, a := range in.AllowedServiceAccounts {
		if a != "" && a != in.ServiceAccount {
			allowed = append(allowed, a)
		}
	}
	for _, a := range allowed {
		if sa == a {
			return nil
		}
	}
	names := "none"
	if len(allowed) > 0 {
		names = strings.Join(allowed, ", ")
	}
	return deny(field, "%q is not a ServiceAccount the Flink pods may run as: the allowed ones are %s (--flink-service-account and --flink-allowed-service-accounts); remove serviceAccountName to run with the default, or ask the platform team to allow %q", sa, names, sa)
}

var dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// podTemplate turns VVP's pod settings into the pod template both the job
// manager and the task managers start from. Kubernetes-shaped values
// (affinity, tolerations, securityContext, volumes, ...) are copied as
// they are: the API server checks them against the CRD's schema.
func podTemplate(pods map[string]any, at string) (map[string]any, error) {
	if err := onlyFields(pods, at+".", podsFields); err != nil {
		return nil, err
	}
	meta := map[string]any{}
	podSpec := map[string]any{}
	container := map[string]any{"name": MainContainer}
	for _, f := range []string{"labels", "annotations"} {
		m, err := stringMap(pods, f, at+"."+f)
		if err != nil {
			return nil, err
		}
		if m != nil {
			meta[f] = m
		}
	}
	if m, err := stringMap(pods, "nodeSelector", at+".nodeSelector"); err != nil {
		return nil, err
	} else if m != nil {
		podSpec["nodeSelector"] = m
	}
	for _, f := range []string{"affinity", "securityContext"} {
		if m, err := object(pods, f, at+"."+f, false); err != nil {
			return nil, err
		} else if m != nil {
			podSpec[f] = m
		}
	}
	if sc, ok := podSpec["securityContext"].(map[string]any); ok {
		if err := checkSecurityContext(sc, at+".securityContext"); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{"tolerations", "imagePullSecrets"} {
		if l, err := objectList(pods, f, at+"."+f); err != nil {
			return nil, err
		} else if len(l) > 0 {
			podSpec[f] = l
		}
	}
	if l, err := objectList(pods, "envVars", at+".envVars"); err != nil {
		return nil, err
	} else if len(l) > 0 {
		container["env"] = l
	}
	vms, err := objectList(pods, "volumeMounts", at+".volumeMounts")
	if err != nil {
		return nil, err
	}
	var volumes, mounts []any
	for i, e := range vms {
		em := e.(map[string]any)
		ef := fmt.Sprintf("%s.volumeMounts[%d]", at, i)
		if err := onlyFields(em, ef+".", []string{"name", "volume", "volumeMount"}); err != nil {
			return nil, err
		}
		vol, err := object(em, "volume", ef+".volume", true)
		if err != nil {
			return nil, err
		}
		if err := checkVolumeSource(vol, ef+".volume"); err != nil {
			return nil, err
		}
		mount, err := object(em, "volumeMount", ef+".volumeMount", true)
		if err != nil {
			return nil, err
		}
		// VVP names the entry; a volume or mount without a name of its
		// own takes the entry's, as the two must match.
		entry, err := str(em, "name", ef+".name")
		if err != nil {
			return nil, err
		}
		volumes = append(volumes, withName(vol, entry))
		mounts = append(mounts, withName(mount, entry))
	}
	if len(volumes) > 0 {
		podSpec["volumes"] = volumes
		container["volumeMounts"] = mounts
	}
	if len(container) > 1 {
		podSpec["containers"] = []any{container}
	}
	tmpl := map[string]any{}
	if len(meta) > 0 {
		tmpl["metadata"] = meta
	}
	if len(podSpec) > 0 {
		tmpl["spec"] = podSpec
	}
	if len(tmpl) == 0 {
		return nil, nil
	}
	return tmpl, nil
}

// volumeSources are the volumes a pod may mount: what the target
// namespace holds or the pod itself makes, never the node's.
var volumeSources = []string{"configMap", "secret", "emptyDir", "persistentVolumeClaim", "projected", "downwardAPI", "ephemeral", "csi"}

func checkVolumeSource(vol map[string]any, field string) error {
	for _, k := range sortedKeys(vol) {
		if k == "name" || slices.Contains(volumeSources, k) {
			continue
		}
		if k == "hostPath" {
			return deny(field+"."+k, "a hostPath volume mounts the node's files into the Flink pods, which the platform does not allow; use one of %s (an emptyDir for scratch space, a persistentVolumeClaim for data)", strings.Join(volumeSources, ", "))
		}
		return deny(field+"."+k, "is not a volume source the Flink pods may mount; use one of %s", strings.Join(volumeSources, ", "))
	}
	return nil
}

// securityContextFields are the pod security context settings passed to
// the pods: who the processes run as, and seccomp and AppArmor profiles
// other than Unconfined. SELinux options, sysctls and Windows options can
// lift a pod out of its confinement, so they are denied.
var securityContextFields = []string{"runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "fsGroupChangePolicy", "supplementalGroups", "supplementalGroupsPolicy", "seccompProfile", "appArmorProfile"}

func checkSecurityContext(sc map[string]any, field string) error {
	if err := onlyFields(sc, field+".", securityContextFields); err != nil {
		return err
	}
	for _, f := range []string{"seccompProfile", "appArmorProfile"} {
		p, err := object(sc, f, field+"."+f, false)
		if err != nil {
			return err
		}
		if t, _ := p["type"].(string); t == "Unconfined" {
			return deny(field+"."+f+".type", "Unconfined lifts the pods' confinement, which the platform does not allow; use RuntimeDefault or Localhost, or remove %s", f)
		}
	}
	return nil
}

// withName is m with "name" set to name when m has none, leaving m as it
// is (it belongs to the document).
func withName(m map[string]any, name string) map[string]any {
	if _, ok := m["name"]; ok || name == "" {
		return m
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out["name"] = name
	return out
}

// object returns m[key] as a mapping; nil when absent (or null) unless
// required.
func object(m map[string]any, key, field string, required bool) (map[string]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		if required {
			return nil, deny(field, "is missing; a Deployment to run needs it")
		}
		return nil, nil
	}
	o, isMap := v.(map[string]any)
	if !isMap {
		return nil, deny(field, "must be a mapping, got %s", kindOf(v))
	}
	return o, nil
}

// objectList returns m[key] as a list of mappings.
func objectList(m map[string]any, key, field string) ([]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	l, isList := v.([]any)
	if !isList {
		return nil, deny(field, "must be a list, got %s", kindOf(v))
	}
	for i, e := range l {
		if _, isMap := e.(map[string]any); !isMap {
			return nil, deny(fmt.Sprintf("%s[%d]", field, i), "must be a mapping, got %s", kindOf(e))
		}
	}
	return l, nil
}

// stringMap returns m[key] as a mapping of strings.
func stringMap(m map[string]any, key, field string) (map[string]any, error) {
	o, err := object(m, key, field, false)
	if err != nil || o == nil {
		return nil, err
	}
	for _, k := range sortedKeys(o) {
		if _, isString := o[k].(string); !isString {
			return nil, deny(field+"."+k, "must be a string, got %s; quote it", kindOf(o[k]))
		}
	}
	return o, nil
}

// str returns m[key] as a string, "" when absent or null.
func str(m map[string]any, key, field string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, isString := v.(string)
	if !isString {
		return "", deny(field, "must be a string, got %s", kindOf(v))
	}
	return s, nil
}

// maxCount bounds parallelism and task managers: well beyond any cluster,
// and inside the CRD's int32.
const maxCount = 1 << 20

func positiveInt(m map[string]any, key, field string) (*int64, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	n, isNumber := v.(json.Number)
	i, err := n.Int64()
	if !isNumber || err != nil || i < 1 || i > maxCount {
		return nil, deny(field, "must be a whole number from 1 to %d, got %s", maxCount, describe(v))
	}
	return &i, nil
}

// onlyFields denies the first unknown field of m, in sorted order.
func onlyFields(m map[string]any, prefix string, known []string) error {
	for _, k := range sortedKeys(m) {
		found := false
		for _, f := range known {
			if k == f {
				found = true
				break
			}
		}
		if !found {
			return deny(prefix+k, "is not a field flinkgate can translate into a FlinkDeployment; the fields there are %s", strings.Join(known, ", "))
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	}
	return kindOf(v)
}
