package flinkop

// What a document says about Kubernetes: its Flink configuration keys
// (those that reach the pods), the pods' ServiceAccount and the pod template
// both kinds of pod start from, each checked against what a job author may
// ask of the target namespace.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func translateConfig(ts map[string]any) (map[string]string, error) {
	const at = "spec.template.spec.flinkConfiguration"
	c, err := object(ts, "flinkConfiguration", at, false)
	if err != nil || len(c) == 0 {
		return nil, err
	}
	out := make(map[string]string, len(c))
	for _, k := range sortedKeys(c) {
		field := at + "." + escaped(k)
		if r, ok := controlChar(k); ok {
			return nil, deny(field, "the key holds the control character %U: Flink reads its configuration file line by line and trims what surrounds a key, so such a key can turn into another one; remove it, and write keys with letters, digits, dots, dashes and underscores only", r)
		}
		for _, f := range ForbiddenConfigKeys {
			if strings.TrimSpace(k) == f {
				return nil, deny(field, "the operator sets %s itself and rejects it in a FlinkDeployment; remove it (the cluster ids are the Deployment's name, the namespace is the target's)", k)
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
			return nil, deny(field, "must be a string, number or boolean, got %s; Flink configuration values are strings", kindOf(v))
		}
		if r, ok := controlChar(out[k]); ok {
			return nil, deny(field, "the value holds the control character %U: a line break would start another key in Flink's configuration file; write the value on one line, without control characters", r)
		}
		if err := kubernetesKey(k, out[k], field); err != nil {
			return nil, err
		}
		if err := operatorFileKey(k, field); err != nil {
			return nil, err
		}
		if !configKey.MatchString(k) {
			return nil, deny(field, "is not a Flink configuration key: keys are made of letters, digits, dots, dashes and underscores (Flink would read another key from its configuration file); correct its name or remove it")
		}
	}
	return out, nil
}

// configKey is what a Flink configuration key is made of. Anything else
// (blanks, '#', ':', '$') changes how Flink's configuration file is read.
var configKey = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// controlChar is the first character of s below U+0020 or U+007F.
func controlChar(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return r, true
		}
	}
	return 0, false
}

// escaped is k for a denial's field, its control characters escaped so
// that the field is one printable line.
func escaped(k string) string {
	if _, ok := controlChar(k); !ok {
		return k
	}
	q := strconv.Quote(k)
	return q[1 : len(q)-1]
}

// operatorFileKey denies the keys that name a file the Flink operator
// reads from its own disk when it deploys or reaches the cluster: Flink's
// Kerberos decorator copies the keytab and krb5.conf into a Secret and a
// ConfigMap of the target namespace and mounts them into the job manager,
// so a path to the operator's ServiceAccount token would hand it to the
// job author; the REST client loads its key and trust stores. $internal.*
// keys are Flink's own (the operator sets the configuration directory it
// copies the logging files from).
func operatorFileKey(k, field string) error {
	k = strings.TrimSpace(k)
	switch {
	case strings.HasPrefix(k, "$internal."):
		return deny(field, "$internal.* keys are Flink's own settings, which the operator sets; one of them names the directory whose files the operator copies into the cluster's ConfigMap; remove it")
	case strings.HasPrefix(k, "security.kerberos."), k == "security.keytab", k == "security.principal":
		return deny(field, "Kerberos settings make the Flink operator read the keytab and krb5.conf from the Flink operator's own disk and copy them into the cluster, which would hand the operator's files to the job; remove it, and mount a keytab from a Secret of the target namespace in spec.template.spec.kubernetes.pods.volumeMounts (Hadoop and Kerberos clients in the job can read it from there)")
	case slices.Contains(operatorSSLFileKeys, k):
		return deny(field, "the Flink operator's REST client would read this file from the Flink operator's own disk to reach the cluster; remove it, and ask the platform team for REST SSL (the operator's own settings)")
	}
	return nil
}

// operatorSSLFileKeys are the key and trust stores of Flink's REST client,
// which the operator runs; security.ssl.internal.* stay the pods' own.
var operatorSSLFileKeys = []string{"security.ssl.keystore", "security.ssl.truststore", "security.ssl.rest.keystore", "security.ssl.rest.truststore"}

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
	if err := checkPodAnnotations(meta["annotations"], at+".annotations"); err != nil {
		return nil, err
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
		// A node's AppArmor profile named "unconfined" is no profile at all.
		if name, _ := p["localhostProfile"].(string); strings.EqualFold(name, "unconfined") {
			return deny(field+"."+f+".localhostProfile", "the profile %q lifts the pods' confinement, which the platform does not allow; use RuntimeDefault or Localhost with a confining profile, or remove %s", name, f)
		}
	}
	return nil
}

// confinementAnnotations start the annotation keys that set a pod's or a
// container's seccomp or AppArmor profile the way older Kubernetes did,
// past checkSecurityContext's denial of Unconfined.
var confinementAnnotations = []struct{ prefix, field string }{
	{"container.apparmor.security.beta.kubernetes.io/", "appArmorProfile"},
	{"seccomp.security.alpha.kubernetes.io/", "seccompProfile"},
	{"container.seccomp.security.alpha.kubernetes.io/", "seccompProfile"},
}

func checkPodAnnotations(a any, field string) error {
	m, _ := a.(map[string]any)
	for _, k := range sortedKeys(m) {
		for _, c := range confinementAnnotations {
			if strings.HasPrefix(k, c.prefix) {
				return deny(field+"."+k, "sets the pods' confinement profile outside the security context, where the platform denies Unconfined; remove the annotation and set securityContext.%s (RuntimeDefault or Localhost) instead", c.field)
			}
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
