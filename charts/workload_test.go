// The webhook's workload: Deployment, probes, resources, PodDisruptionBudget
// and ServiceMonitor.

package charts_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestWorkload checks the objects that run flinkgate: the Deployment and its
// pod, the PodDisruptionBudget and the optional ServiceMonitor.
func TestWorkload(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "The Deployment runs two replicas of flinkgate serve with the SPEC flags.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				d := deployment(t, m)
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
					t.Errorf("replicas %v, want 2", d.Spec.Replicas)
				}
				// The drain (5s) and the in-flight budget (10s) fit the grace period.
				if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
					t.Errorf("terminationGracePeriodSeconds %v, want 30", g)
				}
				c := container(t, m)
				want := []string{"serve",
					"--tls-cert-file=/etc/flinkgate/tls/tls.crt", "--tls-private-key-file=/etc/flinkgate/tls/tls.key",
					"--webhook-addr=:8443", "--metrics-addr=:8080", "--namespaces=" + namespace,
					"--platform-namespace=" + namespace, "--rbac-preflight=enforce",
					"--platform-service-account=" + fullname, "--authorization=rbac", "--log-level=info",
					"--leader-elect-namespace=" + namespace, "--leader-elect-lease-name=" + fullname + "-protection",
					"--protection-settle=65s", "--shutdown-drain=5s", "--memory-limit=$(MEMORY_LIMIT)", "--memory-limit-ratio=0.875"}
				if !slices.Equal(c.Args, want) {
					t.Errorf("args %q, want %q", c.Args, want)
				}
				if c.Image != "ghcr.io/flinkgate/flinkgate:"+appVersion(t) {
					t.Errorf("image %s, want the chart's appVersion as tag", c.Image)
				}
			},
		},
		{
			name:   "rbacPreflight and logLevel reach flinkgate serve.",
			values: func(*testing.T) string { return "rbacPreflight: warn\nlogLevel: debug\n" },
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				for _, a := range []string{"--rbac-preflight=warn", "--log-level=debug"} {
					if !slices.Contains(args, a) {
						t.Errorf("args %q lack %s", args, a)
					}
				}
			},
		},
		{
			name:   "protection.settle reaches flinkgate serve as its settle time.",
			values: func(*testing.T) string { return "protection:\n  settle: 3m\n" },
			check: func(t *testing.T, m manifest) {
				if args := container(t, m).Args; !slices.Contains(args, "--protection-settle=3m") {
					t.Errorf("args %q lack --protection-settle=3m", args)
				}
			},
		},
		{
			name:   "image.digest pins the image by digest instead of tag.",
			values: func(*testing.T) string { return "image:\n  digest: sha256:" + strings.Repeat("ab", 32) + "\n" },
			check: func(t *testing.T, m manifest) {
				if got, want := container(t, m).Image, "ghcr.io/flinkgate/flinkgate@sha256:"+strings.Repeat("ab", 32); got != want {
					t.Errorf("image %s, want %s", got, want)
				}
			},
		},
		{
			name:   "The container requests CPU and memory and has a memory limit.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				r := container(t, m).Resources
				if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
					t.Errorf("resources %+v, want cpu and memory requests and a memory limit", r)
				}
			},
		},
		{
			name:   "Readiness probes /readyz and liveness probes /healthz on the metrics port.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				c := container(t, m)
				for name, p := range map[string]struct {
					probe *corev1.Probe
					path  string
				}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
					if p.probe == nil || p.probe.HTTPGet == nil {
						t.Errorf("%s probe is not an HTTP GET", name)
						continue
					}
					if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
						t.Errorf("%s probe GETs %s on %s, want %s on metrics", name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
					}
				}
				if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 8080 }) {
					t.Errorf("ports %+v lack metrics on 8080, the --metrics-addr port", c.Ports)
				}
			},
		},
		{
			name:   "POD_NAMESPACE comes from the downward API.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				i := slices.IndexFunc(container(t, m).Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" })
				if i < 0 {
					t.Fatal("POD_NAMESPACE is not set")
				}
				e := container(t, m).Env[i]
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
					t.Errorf("POD_NAMESPACE %+v, want fieldRef metadata.namespace", e)
				}
			},
		},
		{
			name:   "The container's memory limit reaches flinkgate from the downward API, with the share it gives Go below it.",
			values: func(*testing.T) string { return "memoryLimitRatio: 0.8\n" },
			check: func(t *testing.T, m manifest) {
				c := container(t, m)
				i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "MEMORY_LIMIT" })
				if i < 0 {
					t.Fatal("MEMORY_LIMIT is not set")
				}
				if e := c.Env[i]; e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
					t.Errorf("MEMORY_LIMIT %+v, want resourceFieldRef limits.memory", e)
				}
				for _, want := range []string{"--memory-limit=$(MEMORY_LIMIT)", "--memory-limit-ratio=0.8"} {
					if !slices.Contains(c.Args, want) {
						t.Errorf("args %q lack %s", c.Args, want)
					}
				}
			},
		},
		{
			name:   "The TLS Secret is mounted as a directory, not with subPath, so rotation reaches the process.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				wantTLSMount(t, m, tlsSecret)
			},
		},
		{
			name:   "The PodDisruptionBudget selects the webhook pods and leaves at least one running.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				pdb := get[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget", namespace, fullname)
				d := deployment(t, m)
				for k, v := range pdb.Spec.Selector.MatchLabels {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("PDB selects %s=%s, which the pods lack", k, v)
					}
				}
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() >= int(*d.Spec.Replicas) {
					t.Errorf("maxUnavailable %v with %d replicas lets a drain take them all", pdb.Spec.MaxUnavailable, *d.Spec.Replicas)
				}
			},
		},
		{
			name:   "podLabels cannot replace the labels the selectors depend on.",
			values: func(*testing.T) string { return "podLabels:\n  app.kubernetes.io/name: other\n  team: data\n" },
			check: func(t *testing.T, m manifest) {
				d := deployment(t, m)
				for k, v := range d.Spec.Selector.MatchLabels {
					if d.Spec.Template.Labels[k] != v {
						t.Errorf("pod label %s=%s, the selector wants %s", k, d.Spec.Template.Labels[k], v)
					}
				}
				if d.Spec.Template.Labels["team"] != "data" {
					t.Error("podLabels are not applied")
				}
			},
		},
		{
			name: "The ServiceMonitor scrapes /metrics on the Service's metrics port when enabled.",
			values: func(*testing.T) string {
				return "metrics:\n  serviceMonitor:\n    enabled: true\n    labels: {release: prom}\n"
			},
			check: func(t *testing.T, m manifest) {
				sm := untyped(t, m, "ServiceMonitor", namespace, fullname)
				eps, _ := field(t, sm, "spec", "endpoints").([]any)
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" || eps[0].(map[string]any)["path"] != "/metrics" {
					t.Errorf("endpoints %v", eps)
				}
				if field(t, sm, "metadata", "labels").(map[string]any)["release"] != "prom" {
					t.Error("serviceMonitor.labels are not applied")
				}
				svc := get[corev1.Service](t, m, "Service", namespace, fullname)
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
					t.Error("the Service has no metrics port")
				}
				for k, v := range field(t, sm, "spec", "selector", "matchLabels").(map[string]any) {
					if svc.Labels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%v, which the Service lacks", k, v)
					}
				}
			},
		},
		{
			name:   "No ServiceMonitor is rendered by default.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("ServiceMonitor")); n != 0 {
					t.Errorf("%d ServiceMonitors rendered", n)
				}
			},
		},
	})
}
