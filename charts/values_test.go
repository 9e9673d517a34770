package charts_test

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"flinkgate.io/flinkgate/internal/golden"
)

const (
	selfValues = "tls:\n  mode: self\n"
	// openShiftValues leaves the user and groups to restricted-v2.
	openShiftValues = "podSecurityContext:\n  runAsUser: null\n  runAsGroup: null\n  fsGroup: null\n"
	escapeValues    = `
commonLabels: {team: data, cost-center: "42"}
extraArgs: ["--log-level=debug"]
extraEnv:
  - {name: GODEBUG, value: "tlsrsakex=0"}
networkPolicy:
  enabled: true
  metricsFrom:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
  apiServer:
    cidrs: [10.0.0.1/32]
    ports: [6443]
containerSecurityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
  seLinuxOptions: {level: "s0:c1,c2"}
`
)

func TestGoldenRendersOfTheEscapeHatches(t *testing.T) {
	cases := []struct {
		name, golden, values string
	}{
		{"tls.mode=self renders no certificate and gives flinkgate the Secret, configuration and hosts to manage.", "self.yaml", selfValues},
		{"commonLabels, extraArgs, extraEnv, a NetworkPolicy and a container securityContext render where they belong.", "escape-hatches.yaml", escapeValues},
		{"An OpenShift podSecurityContext leaves the user and groups out.", "openshift.yaml", openShiftValues},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := render(t, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			checkRender(t, tc.golden, out)
		})
	}
}

func TestTheNewValuesLintClean(t *testing.T) {
	for _, tc := range []struct{ name, values string }{
		{"tls.mode=self lints clean in strict mode.", selfValues},
		{"The escape hatches lint clean in strict mode.", escapeValues},
		{"An OpenShift podSecurityContext lints clean in strict mode.", openShiftValues},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, "lint", "--strict", chartDir, "--kube-version", kubeVersion,
				"--namespace", namespace, "--values", valuesFile(t, tc.values))
			if err != nil {
				t.Fatalf("lint: %v\n%s", err, out)
			}
		})
	}
}

func TestSelfModeRendersAreIdentical(t *testing.T) {
	first, err := render(t, selfValues)
	if err != nil {
		t.Fatal(err)
	}
	second, err := render(t, selfValues)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("two renders in self mode differ, so a GitOps tool would show a diff on every sync:\n%s", golden.Diff(first, second))
	}
	// The control: helm mode mints a new CA per render, so the comparison can fail.
	a, _ := render(t, "")
	b, _ := render(t, "")
	if a == b {
		t.Error("two renders in helm mode are identical; the comparison above proves nothing")
	}
}

func podOf(t *testing.T, m manifest, name string) *corev1.Pod {
	t.Helper()
	return get[corev1.Pod](t, m, "Pod", namespace, name)
}

func TestEscapeHatchBehaviour(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
		check  func(t *testing.T, m manifest)
	}{
		{
			name:   "self mode renders no Secret and no caBundle, and mounts no certificate.",
			values: func(*testing.T) string { return selfValues },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("Secret")); n != 0 {
					t.Errorf("%d Secrets rendered; flinkgate creates its own", n)
				}
				for name, cc := range clientConfigs(t, m) {
					if len(cc.CABundle) != 0 {
						t.Errorf("%s caBundle is rendered; flinkgate injects it", name)
					}
				}
				spec := deployment(t, m).Spec.Template.Spec
				if len(spec.Volumes) != 0 || len(spec.Containers[0].VolumeMounts) != 0 {
					t.Errorf("volumes %v mounts %v; self mode reads the Secret through the API", spec.Volumes, spec.Containers[0].VolumeMounts)
				}
			},
		},
		{
			name:   "self mode gives flinkgate the Secret, the configurations' name and the Service's names instead of files.",
			values: func(*testing.T) string { return selfValues + urlValues },
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				for _, want := range []string{"--self-tls-secret=" + tlsSecret, "--self-tls-webhook-configuration=" + fullname,
					"--self-tls-hosts=" + fullname + "," + fullname + "." + namespace + "," + fullname + "." + namespace + ".svc," + fullname + "." + namespace + ".svc.cluster.local,127.0.0.1"} {
					if !slices.Contains(args, want) {
						t.Errorf("args %q lack %s", args, want)
					}
				}
				if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--tls-cert-file") }) {
					t.Errorf("args %q still name certificate files", args)
				}
			},
		},
		{
			name:   "self mode grants get and update only on its Secret and its two webhook configurations, by name.",
			values: func(*testing.T) string { return selfValues },
			check: func(t *testing.T, m manifest) {
				r := get[rbacv1.Role](t, m, "Role", namespace, fullname+"-self-tls")
				sameRules(t, "self-tls Role", r.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{tlsSecret}, Verbs: []string{"get", "update"}},
					{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
				})
				cr := get[rbacv1.ClusterRole](t, m, "ClusterRole", "", fullname+"-self-tls")
				sameRules(t, "self-tls ClusterRole", cr.Rules, []rbacv1.PolicyRule{
					{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations"}, ResourceNames: []string{fullname}, Verbs: []string{"get", "update"}},
				})
				wantSubjects(t, "self-tls RoleBinding", get[rbacv1.RoleBinding](t, m, "RoleBinding", namespace, fullname+"-self-tls").Subjects, fullname+"-webhook")
				wantSubjects(t, "self-tls ClusterRoleBinding", get[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding", "", fullname+"-self-tls").Subjects, fullname+"-webhook")
			},
		},
		{
			name:   "Outside self mode there is no self-tls RBAC.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				if m.has("Role", namespace, fullname+"-self-tls") || m.has("ClusterRole", "", fullname+"-self-tls") {
					t.Error("self-tls RBAC is rendered in helm mode")
				}
			},
		},
		{
			name:   "An OpenShift podSecurityContext renders no user or groups and still passes the restricted standard.",
			values: func(*testing.T) string { return openShiftValues },
			check: func(t *testing.T, m manifest) {
				psc := deployment(t, m).Spec.Template.Spec.SecurityContext
				if psc == nil || psc.RunAsUser != nil || psc.RunAsGroup != nil || psc.FSGroup != nil {
					t.Errorf("pod securityContext %+v; want no runAsUser, runAsGroup or fsGroup", psc)
				}
				d := deployment(t, m)
				for _, v := range restrictedViolations(t, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec) {
					t.Error(v)
				}
			},
		},
		{
			name:   "extraArgs come after the chart's flags, so they override them.",
			values: func(*testing.T) string { return escapeValues },
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				if args[len(args)-1] != "--log-level=debug" || !slices.Contains(args, "--log-level=info") {
					t.Errorf("args %q; want the chart's --log-level=info, then --log-level=debug last", args)
				}
			},
		},
		{
			name:   "extraEnv comes after POD_NAMESPACE and MEMORY_LIMIT.",
			values: func(*testing.T) string { return escapeValues },
			check: func(t *testing.T, m manifest) {
				var names []string
				for _, e := range container(t, m).Env {
					names = append(names, e.Name)
				}
				if !slices.Equal(names, []string{"POD_NAMESPACE", "MEMORY_LIMIT", "GODEBUG"}) {
					t.Errorf("env %q", names)
				}
			},
		},
		{
			name:   "commonLabels reach every object and the pods, but no selector.",
			values: func(*testing.T) string { return escapeValues },
			check: func(t *testing.T, m manifest) {
				for _, o := range m {
					labels, _ := field(t, untyped(t, m, o.Kind, o.Namespace, o.Name), "metadata", "labels").(map[string]any)
					if labels["team"] != "data" || labels["cost-center"] != "42" {
						t.Errorf("%s %s labels %v lack the commonLabels", o.Kind, o.Name, labels)
					}
				}
				d := deployment(t, m)
				if d.Spec.Template.Labels["team"] != "data" {
					t.Error("the pods lack the commonLabels")
				}
				if _, ok := d.Spec.Selector.MatchLabels["team"]; ok {
					t.Error("a commonLabel is in the Deployment's selector, which is immutable")
				}
			},
		},
		{
			name:   "app.kubernetes.io/component says webhook, appmanager or test per object.",
			values: func(*testing.T) string { return additionalNamespacesValues },
			check: func(t *testing.T, m manifest) {
				for _, o := range m {
					labels, _ := field(t, untyped(t, m, o.Kind, o.Namespace, o.Name), "metadata", "labels").(map[string]any)
					want := "webhook"
					switch {
					case strings.HasSuffix(o.Name, "-appmanager"):
						want = "appmanager"
					case o.Kind == "Pod":
						want = "test"
					}
					if got := labels["app.kubernetes.io/component"]; got != want {
						t.Errorf("%s %s/%s component %v, want %s", o.Kind, o.Namespace, o.Name, got, want)
					}
				}
			},
		},
		{
			name:   "The NetworkPolicy opens the webhook port to all, metrics to metricsFrom and egress to the API server only.",
			values: func(*testing.T) string { return escapeValues },
			check: func(t *testing.T, m manifest) {
				np := get[networkingv1.NetworkPolicy](t, m, "NetworkPolicy", namespace, fullname)
				for k, v := range np.Spec.PodSelector.MatchLabels {
					if deployment(t, m).Spec.Template.Labels[k] != v {
						t.Errorf("the policy selects %s=%s, which the pods lack", k, v)
					}
				}
				if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
					t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
				}
				if len(np.Spec.Ingress) != 2 {
					t.Fatalf("%d ingress rules, want webhook and metrics", len(np.Spec.Ingress))
				}
				web, metrics := np.Spec.Ingress[0], np.Spec.Ingress[1]
				if len(web.From) != 0 || len(web.Ports) != 1 || web.Ports[0].Port.String() != "webhook" {
					t.Errorf("webhook rule %+v; want the webhook port from anywhere", web)
				}
				if len(metrics.From) != 1 || metrics.From[0].NamespaceSelector == nil || len(metrics.Ports) != 1 || metrics.Ports[0].Port.String() != "metrics" {
					t.Errorf("metrics rule %+v; want the metrics port from metricsFrom", metrics)
				}
				if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 1 || np.Spec.Egress[0].To[0].IPBlock.CIDR != "10.0.0.1/32" ||
					len(np.Spec.Egress[0].Ports) != 1 || np.Spec.Egress[0].Ports[0].Port.IntValue() != 6443 {
					t.Errorf("egress %+v; want 10.0.0.1/32:6443 only", np.Spec.Egress)
				}
			},
		},
		{
			name:   "Without metricsFrom the NetworkPolicy opens only the webhook port.",
			values: func(*testing.T) string { return "networkPolicy:\n  enabled: true\n" },
			check: func(t *testing.T, m manifest) {
				np := get[networkingv1.NetworkPolicy](t, m, "NetworkPolicy", namespace, fullname)
				if len(np.Spec.Ingress) != 1 {
					t.Errorf("%d ingress rules, want the webhook's only", len(np.Spec.Ingress))
				}
				if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].To) != 0 || len(np.Spec.Egress[0].Ports) != 2 {
					t.Errorf("egress %+v; want ports 443 and 6443 to any address", np.Spec.Egress)
				}
			},
		},
		{
			name:   "No NetworkPolicy is rendered by default.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				if n := len(m.ofKind("NetworkPolicy")); n != 0 {
					t.Errorf("%d NetworkPolicies rendered", n)
				}
			},
		},
		{
			name:   "The helm test pod probes the Service with only the CA of the TLS Secret, and passes the restricted standard.",
			values: func(*testing.T) string { return "" },
			check: func(t *testing.T, m manifest) {
				p := podOf(t, m, fullname+"-test")
				if p.Annotations["helm.sh/hook"] != "test" {
					t.Errorf("annotations %v; want a helm test hook", p.Annotations)
				}
				c := p.Spec.Containers[0]
				want := []string{"probe", "--url=https://" + fullname + "." + namespace + ".svc:443", "--ca-file=/etc/flinkgate/ca/ca.crt"}
				if !slices.Equal(c.Args, want) {
					t.Errorf("args %q, want %q", c.Args, want)
				}
				if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Secret == nil || p.Spec.Volumes[0].Secret.SecretName != tlsSecret ||
					len(p.Spec.Volumes[0].Secret.Items) != 1 || p.Spec.Volumes[0].Secret.Items[0].Key != "ca.crt" {
					t.Errorf("volumes %+v; want only ca.crt of %s", p.Spec.Volumes, tlsSecret)
				}
				if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
					t.Error("the test pod mounts an API token it does not need")
				}
				for _, v := range restrictedViolations(t, &p.ObjectMeta, &p.Spec) {
					t.Error(v)
				}
			},
		},
		{
			name:   "In secret mode the helm test pod takes the CA from tls.caBundle.",
			values: secretModeValues,
			check: func(t *testing.T, m manifest) {
				p := podOf(t, m, fullname+"-test")
				ca, err := testCABundle()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(p.Spec.Containers[0].Args, "--ca-bundle-base64="+ca) || len(p.Spec.Volumes) != 0 {
					t.Errorf("args %q volumes %v; want the caBundle as a flag and no volume", p.Spec.Containers[0].Args, p.Spec.Volumes)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustRender(t, tc.values(t)))
		})
	}
}

func TestTyposInTheNewValuesAreRejected(t *testing.T) {
	const schemaError = "values don't meet the specifications of the schema"
	cases := []struct {
		name    string
		values  string
		wantErr []string
	}{
		{"A misspelt podSecurityContext field fails the install.", "podSecurityContext:\n  runAsUsr: 1000\n", []string{"/podSecurityContext", "'runAsUsr' not allowed"}},
		{"A misspelt containerSecurityContext field fails the install.", "containerSecurityContext:\n  readOnlyRootFileSystem: true\n", []string{"/containerSecurityContext", "'readOnlyRootFileSystem' not allowed"}},
		{"A misspelt seccompProfile type fails the install.", "podSecurityContext:\n  seccompProfile: {type: runtimeDefault}\n", []string{"/podSecurityContext/seccompProfile/type"}},
		{"An extraArgs entry that is not a flag fails the install.", "extraArgs: [\"log-level=debug\"]\n", []string{"/extraArgs/0"}},
		{"An extraEnv entry without a name fails the install.", "extraEnv: [{value: x}]\n", []string{"/extraEnv/0"}},
		{"A misspelt extraEnv field fails the install.", "extraEnv: [{name: A, valuefrom: {}}]\n", []string{"/extraEnv/0", "'valuefrom' not allowed"}},
		{"A commonLabel under app.kubernetes.io/ fails the install.", "commonLabels: {app.kubernetes.io/name: other}\n", []string{"invalid propertyName 'app.kubernetes.io/name'"}},
		{"A commonLabel value over 63 characters fails the install.", "commonLabels: {team: " + strings.Repeat("a", 64) + "}\n", []string{"/commonLabels/team"}},
		{"A misspelt networkPolicy field fails the install.", "networkPolicy:\n  metricFrom: []\n", []string{"/networkPolicy", "'metricFrom' not allowed"}},
		{"An API server port 0 fails the install.", "networkPolicy:\n  apiServer:\n    ports: [0]\n", []string{"/networkPolicy/apiServer/ports/0"}},
		{"An API server CIDR without a prefix length fails the install.", "networkPolicy:\n  apiServer:\n    cidrs: [10.0.0.1]\n", []string{"/networkPolicy/apiServer/cidrs/0"}},
		{"A settle time without a unit fails the install.", "protection:\n  settle: 65\n", []string{"/protection/settle"}},
		{"A misspelt protection field fails the install.", "protection:\n  settleTime: 65s\n", []string{"/protection", "'settleTime' not allowed"}},
		{"tls.mode=Self (capitalised) fails the install.", "tls:\n  mode: Self\n", []string{"/tls/mode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values)
			if err == nil {
				t.Fatal("helm template succeeded")
			}
			for _, want := range append([]string{schemaError}, tc.wantErr...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}
