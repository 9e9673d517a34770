// Accepting only the API server: webhook.clientAuth (a client CA that
// flinkgate's webhook port requires) and networkPolicy.webhookFrom (the peers
// the NetworkPolicy lets reach that port).

package charts_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

const (
	clientCAConfigMap = fullname + "-client-ca"
	clientCAMount     = "/etc/flinkgate/client-ca"
	clientCAFlag      = "--webhook-client-ca-file=" + clientCAMount + "/ca.crt"
	clientNamesFlag   = "--webhook-client-names="
	// webhookFromValues turns the NetworkPolicy on with the API server's peers.
	webhookFromValues = `
networkPolicy:
  enabled: true
  webhookFrom:
    - ipBlock: {cidr: 10.0.0.0/24}
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: konnectivity-agent}}
`
)

func init() {
	// The client CA is the only ConfigMap the well-formedness test renders.
	kinds["ConfigMap"] = struct {
		apiVersion string
		typed      func(t *testing.T, o object)
	}{"v1", func(t *testing.T, o object) { decode[corev1.ConfigMap](t, o) }}
}

// clientAuthValues sets webhook.clientAuth with the test CA and the names.
func clientAuthValues(names ...string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		ca, err := testCABundle()
		if err != nil {
			t.Fatal(err)
		}
		v := "webhook:\n  clientAuth:\n    caBundle: " + ca + "\n"
		if len(names) > 0 {
			v += "    names: [" + strings.Join(names, ", ") + "]\n"
		}
		return v
	}
}

// allClientAuthValues is everything this file adds, for the golden render and lint.
func allClientAuthValues(t *testing.T) string {
	t.Helper()
	return clientAuthValues("kube-apiserver", "apiserver.example.com")(t) + webhookFromValues
}

func TestClientAuthGoldenRender(t *testing.T) {
	out, err := render(t, allClientAuthValues(t))
	if err != nil {
		t.Fatal(err)
	}
	checkRender(t, "client-auth.yaml", out)
}

func TestClientAuthLintsClean(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values func(t *testing.T) string
	}{
		{"webhook.clientAuth with names and networkPolicy.webhookFrom lint clean in strict mode.", allClientAuthValues},
		{"webhook.clientAuth in self mode lints clean in strict mode.", func(t *testing.T) string { return clientAuthValues()(t) + selfValues }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runHelm(t, "lint", "--strict", chartDir, "--kube-version", kubeVersion,
				"--namespace", namespace, "--values", valuesFile(t, tc.values(t)))
			if err != nil {
				t.Fatalf("lint: %v\n%s", err, out)
			}
		})
	}
}

// clientCAVolume returns the pod's client-ca volume and the container's mount
// of it; either is nil when absent.
func clientCAVolume(t *testing.T, m manifest) (*corev1.Volume, *corev1.VolumeMount) {
	t.Helper()
	var vol *corev1.Volume
	var mount *corev1.VolumeMount
	for i, v := range deployment(t, m).Spec.Template.Spec.Volumes {
		if v.Name == "client-ca" {
			vol = &deployment(t, m).Spec.Template.Spec.Volumes[i]
		}
	}
	c := container(t, m)
	for i, vm := range c.VolumeMounts {
		if vm.Name == "client-ca" {
			mount = &c.VolumeMounts[i]
		}
	}
	return vol, mount
}

func clientArgs(t *testing.T, m manifest) []string {
	t.Helper()
	var out []string
	for _, a := range container(t, m).Args {
		if strings.HasPrefix(a, "--webhook-client-") {
			out = append(out, a)
		}
	}
	return out
}

func TestClientAuthRendering(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "By default the chart renders no client CA ConfigMap, volume, mount or client flag.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				if m.has("ConfigMap", namespace, clientCAConfigMap) {
					t.Errorf("ConfigMap %s is rendered without webhook.clientAuth.caBundle", clientCAConfigMap)
				}
				if vol, mount := clientCAVolume(t, m); vol != nil || mount != nil {
					t.Errorf("volume %+v mount %+v; want neither", vol, mount)
				}
				if args := clientArgs(t, m); len(args) != 0 {
					t.Errorf("args %q; want no --webhook-client-* flag", args)
				}
			},
		},
		{
			name:   "webhook.clientAuth.caBundle renders the ConfigMap <fullname>-client-ca whose ca.crt is the decoded PEM.",
			values: clientAuthValues(),
			check: func(t *testing.T, m manifest) {
				cm := get[corev1.ConfigMap](t, m, "ConfigMap", namespace, clientCAConfigMap)
				if len(cm.Data) != 1 || len(cm.BinaryData) != 0 {
					t.Errorf("data keys %v binaryData %v; want ca.crt only", cm.Data, cm.BinaryData)
				}
				ca, err := testCABundle()
				if err != nil {
					t.Fatal(err)
				}
				want, _ := pem.Decode(mustB64(t, ca))
				got, rest := pem.Decode([]byte(cm.Data["ca.crt"]))
				if got == nil || want == nil || got.Type != "CERTIFICATE" || !bytes.Equal(got.Bytes, want.Bytes) || len(bytes.TrimSpace(rest)) != 0 {
					t.Errorf("ca.crt is not the given certificate:\n%s", cm.Data["ca.crt"])
				}
				if _, err := x509.ParseCertificate(got.Bytes); err != nil {
					t.Errorf("ca.crt does not parse: %v", err)
				}
			},
		},
		{
			name:   "webhook.clientAuth.caBundle mounts the ConfigMap read-only as a directory and passes its ca.crt to --webhook-client-ca-file.",
			values: clientAuthValues(),
			check: func(t *testing.T, m manifest) {
				vol, mount := clientCAVolume(t, m)
				if vol == nil || vol.ConfigMap == nil || vol.ConfigMap.Name != clientCAConfigMap {
					t.Errorf("volume %+v; want the ConfigMap %s", vol, clientCAConfigMap)
				}
				// subPath mounts are never updated, so a changed bundle would not reach the pod.
				if mount == nil || mount.MountPath != clientCAMount || !mount.ReadOnly || mount.SubPath != "" {
					t.Errorf("mount %+v; want %s read-only, without subPath", mount, clientCAMount)
				}
				if args := clientArgs(t, m); !slices.Equal(args, []string{clientCAFlag}) {
					t.Errorf("args %q; want only %s", args, clientCAFlag)
				}
			},
		},
		{
			name:   "webhook.clientAuth keeps the serving certificate's mount beside the client CA's.",
			values: clientAuthValues(),
			check: func(t *testing.T, m manifest) {
				var names []string
				for _, vm := range container(t, m).VolumeMounts {
					names = append(names, vm.Name+"="+vm.MountPath)
				}
				if want := []string{"tls=/etc/flinkgate/tls", "client-ca=" + clientCAMount}; !slices.Equal(names, want) {
					t.Errorf("mounts %q, want %q", names, want)
				}
			},
		},
		{
			name:   "In self mode webhook.clientAuth mounts the client CA and still no serving certificate.",
			values: func(t *testing.T) string { return clientAuthValues()(t) + selfValues },
			check: func(t *testing.T, m manifest) {
				spec := deployment(t, m).Spec.Template.Spec
				if len(spec.Volumes) != 1 || spec.Volumes[0].Name != "client-ca" || len(spec.Containers[0].VolumeMounts) != 1 {
					t.Errorf("volumes %+v mounts %+v; want the client CA only", spec.Volumes, spec.Containers[0].VolumeMounts)
				}
				if args := clientArgs(t, m); !slices.Equal(args, []string{clientCAFlag}) {
					t.Errorf("args %q; want only %s", args, clientCAFlag)
				}
			},
		},
		{
			name:   "webhook.clientAuth.names are passed comma-joined, in order, to --webhook-client-names.",
			values: clientAuthValues("kube-apiserver", "apiserver.example.com"),
			check: func(t *testing.T, m manifest) {
				want := []string{clientCAFlag, clientNamesFlag + "kube-apiserver,apiserver.example.com"}
				if args := clientArgs(t, m); !slices.Equal(args, want) {
					t.Errorf("args %q, want %q", args, want)
				}
			},
		},
		{
			name: "extraArgs still come after the client flags, so they override them.",
			values: func(t *testing.T) string {
				return clientAuthValues("a")(t) + "extraArgs: [\"--webhook-client-names=b\"]\n"
			},
			check: func(t *testing.T, m manifest) {
				args := container(t, m).Args
				if args[len(args)-1] != clientNamesFlag+"b" || !slices.Contains(args, clientNamesFlag+"a") {
					t.Errorf("args %q; want the chart's names, then extraArgs' last", args)
				}
			},
		},
		{
			name:   "webhook.clientAuth puts no checksum on the pod template: flinkgate reloads the mounted file, so changing the CAs restarts no pod.",
			values: clientAuthValues(),
			check: func(t *testing.T, m manifest) {
				if a := deployment(t, m).Spec.Template.Annotations; len(a) != 0 {
					t.Errorf("pod template annotations %v; want none", a)
				}
			},
		},
		{
			name:   "With webhook.clientAuth the helm test probe expects to be refused in the handshake, having no client certificate.",
			values: clientAuthValues(),
			check: func(t *testing.T, m manifest) {
				pod := get[corev1.Pod](t, m, "Pod", namespace, fullname+"-test")
				if args := pod.Spec.Containers[0].Args; !slices.Contains(args, "--expect-client-auth") {
					t.Errorf("probe args %v lack --expect-client-auth; the probe would fail against a port that requires the API server's certificate", args)
				}
			},
		},
		{
			name:   "By default the helm test probe expects answers, not a refusal.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				pod := get[corev1.Pod](t, m, "Pod", namespace, fullname+"-test")
				if args := pod.Spec.Containers[0].Args; slices.Contains(args, "--expect-client-auth") {
					t.Errorf("probe args %v expect a refusal without webhook.clientAuth", args)
				}
			},
		},
		{
			name:   "By default the helm test Pod is rendered.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				if !m.has("Pod", namespace, fullname+"-test") {
					t.Error("the helm test Pod is missing")
				}
			},
		},
	})
}

// webhookRule returns the NetworkPolicy's ingress rule for the webhook port.
func webhookRule(t *testing.T, m manifest) networkingv1.NetworkPolicyIngressRule {
	t.Helper()
	np := get[networkingv1.NetworkPolicy](t, m, "NetworkPolicy", namespace, fullname)
	var found []networkingv1.NetworkPolicyIngressRule
	for _, r := range np.Spec.Ingress {
		if slices.ContainsFunc(r.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port != nil && p.Port.String() == "webhook" }) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ingress rules name the webhook port, want 1: %+v", len(found), np.Spec.Ingress)
	}
	return found[0]
}

func TestWebhookFromRendering(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "networkPolicy.webhookFrom becomes the from of the webhook port's ingress rule, peer for peer.",
			values: func(*testing.T) string { return webhookFromValues },
			check: func(t *testing.T, m manifest) {
				r := webhookRule(t, m)
				if len(r.Ports) != 1 {
					t.Errorf("ports %+v; want the webhook port only", r.Ports)
				}
				if len(r.From) != 2 || r.From[0].IPBlock == nil || r.From[0].IPBlock.CIDR != "10.0.0.0/24" ||
					r.From[1].NamespaceSelector == nil || r.From[1].PodSelector == nil ||
					r.From[1].PodSelector.MatchLabels["k8s-app"] != "konnectivity-agent" {
					t.Errorf("from %+v; want the two peers of webhookFrom", r.From)
				}
			},
		},
		{
			name:   "An empty networkPolicy.webhookFrom leaves the webhook port open to any source, as before.",
			values: func(*testing.T) string { return "networkPolicy:\n  enabled: true\n  webhookFrom: []\n" },
			check: func(t *testing.T, m manifest) {
				if r := webhookRule(t, m); len(r.From) != 0 {
					t.Errorf("from %+v; want none", r.From)
				}
			},
		},
		{
			name:   "networkPolicy.webhookFrom leaves the metrics rule and egress as they were.",
			values: func(*testing.T) string { return webhookFromValues + "  metricsFrom: [{podSelector: {}}]\n" },
			check: func(t *testing.T, m manifest) {
				np := get[networkingv1.NetworkPolicy](t, m, "NetworkPolicy", namespace, fullname)
				if len(np.Spec.Ingress) != 2 || len(np.Spec.Ingress[1].From) != 1 || np.Spec.Ingress[1].Ports[0].Port.String() != "metrics" {
					t.Errorf("ingress %+v; want the webhook rule, then the metrics rule from metricsFrom", np.Spec.Ingress)
				}
				if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].Ports) != 2 {
					t.Errorf("egress %+v; want ports 443 and 6443", np.Spec.Egress)
				}
			},
		},
		{
			name:   "With networkPolicy.webhookFrom no helm test Pod is rendered: the policy keeps the probe out.",
			values: func(*testing.T) string { return webhookFromValues },
			check: func(t *testing.T, m manifest) {
				if m.has("Pod", namespace, fullname+"-test") {
					t.Error("the helm test Pod is rendered; the NetworkPolicy would keep it from the webhook port")
				}
			},
		},
	})
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// caWithKey is the test CA followed by a private key, as base64 PEM: a bundle
// someone copied from a directory holding both.
func caWithKey(t *testing.T) string {
	t.Helper()
	ca, err := testCABundle()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return base64.StdEncoding.EncodeToString(append(mustB64(t, ca), keyPEM...))
}

func TestRejectedClientAuthValues(t *testing.T) {
	const schemaError = "values don't meet the specifications of the schema"
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	manyNames := make([]string, 33)
	for i := range manyNames {
		manyNames[i] = fmt.Sprintf("n%d", i)
	}
	cases := []struct {
		name   string
		values func(t *testing.T) string
		// wantErr are substrings of the error: what failed and the offending key.
		wantErr []string
	}{
		{
			name:    "webhook.clientAuth.names without a caBundle fails the install and says what to set.",
			values:  func(*testing.T) string { return "webhook:\n  clientAuth:\n    names: [kube-apiserver]\n" },
			wantErr: []string{"webhook.clientAuth.names needs webhook.clientAuth.caBundle: ", "set caBundle"},
		},
		{
			name: "A caBundle that is base64 of something other than a PEM certificate fails the install.",
			values: func(*testing.T) string {
				return "webhook:\n  clientAuth:\n    caBundle: " + b64("not a certificate") + "\n"
			},
			wantErr: []string{"webhook.clientAuth.caBundle must be the base64 encoding of PEM CA certificates"},
		},
		{
			name: "A caBundle of raw PEM instead of its base64 fails the install.",
			values: func(*testing.T) string {
				return "webhook:\n  clientAuth:\n    caBundle: \"-----BEGIN CERTIFICATE-----\"\n"
			},
			wantErr: []string{schemaError, "/webhook/clientAuth/caBundle"},
		},
		{
			name:    "A caBundle that also holds a private key fails the install, so the key never lands in a ConfigMap.",
			values:  func(t *testing.T) string { return "webhook:\n  clientAuth:\n    caBundle: " + caWithKey(t) + "\n" },
			wantErr: []string{"webhook.clientAuth.caBundle contains a private key"},
		},
		{
			name: "A caBundle over 64 KiB of base64 fails the install.",
			values: func(*testing.T) string {
				return "webhook:\n  clientAuth:\n    caBundle: " + strings.Repeat("A", 65540) + "\n"
			},
			wantErr: []string{schemaError, "/webhook/clientAuth/caBundle"},
		},
		{
			name:    "A name with a comma fails the install, since the names are joined with commas.",
			values:  clientAuthValues(`"a,b"`),
			wantErr: []string{schemaError, "/webhook/clientAuth/names/0"},
		},
		{
			name:    "A name listed twice fails the install.",
			values:  clientAuthValues("kube-apiserver", "kube-apiserver"),
			wantErr: []string{schemaError, "/webhook/clientAuth/names"},
		},
		{
			name:    "More than 32 names fail the install.",
			values:  clientAuthValues(manyNames...),
			wantErr: []string{schemaError, "/webhook/clientAuth/names"},
		},
		{
			name:    "A misspelt webhook.clientAuth field fails the install.",
			values:  func(*testing.T) string { return "webhook:\n  clientAuth:\n    caBundel: \"\"\n" },
			wantErr: []string{schemaError, "/webhook/clientAuth", "'caBundel' not allowed"},
		},
		{
			name:    "networkPolicy.webhookFrom with the NetworkPolicy off fails the install and says what to set.",
			values:  func(*testing.T) string { return "networkPolicy:\n  webhookFrom: [{ipBlock: {cidr: 10.0.0.0/24}}]\n" },
			wantErr: []string{"networkPolicy.webhookFrom needs networkPolicy.enabled=true"},
		},
		{
			name: "A misspelt field in a webhookFrom peer fails the install.",
			values: func(*testing.T) string {
				return "networkPolicy:\n  enabled: true\n  webhookFrom: [{ipblock: {cidr: 10.0.0.0/24}}]\n"
			},
			wantErr: []string{schemaError, "/networkPolicy/webhookFrom/0", "'ipblock' not allowed"},
		},
		{
			name:    "An empty webhookFrom peer fails the install, as the API server would refuse it.",
			values:  func(*testing.T) string { return "networkPolicy:\n  enabled: true\n  webhookFrom: [{}]\n" },
			wantErr: []string{schemaError, "/networkPolicy/webhookFrom/0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.values(t))
			if err == nil {
				t.Fatal("helm template succeeded")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestNotesSayWhoMayCallTheWebhookPort(t *testing.T) {
	cases := []struct {
		name   string
		values func(t *testing.T) string
		want   []string
		absent []string
	}{
		{"By default the notes say any pod may call the webhook port and name the two values that stop it.", noValues,
			[]string{"any pod that reaches the port may call it", "webhook.clientAuth", "networkPolicy.webhookFrom"}, nil},
		{"With webhook.clientAuth the notes name the ConfigMap, the names and the kubeconfig user the API server needs.", clientAuthValues("kube-apiserver", "apiserver.example.com"),
			[]string{"ConfigMap " + clientCAConfigMap + ", named kube-apiserver or apiserver.example.com", `user "` + fullname + "." + namespace + `.svc"`},
			[]string{"any pod that reaches the port"}},
		{"In url mode the notes name the URL's host and port as the kubeconfig user.", func(t *testing.T) string {
			// One webhook: key; a second would replace the first.
			return strings.Replace(clientAuthValues()(t), "webhook:\n", "webhook:\n  url: https://127.0.0.1:9443/\n", 1)
		},
			[]string{`user "127.0.0.1:9443"`}, nil},
		{"With networkPolicy.webhookFrom the notes say only its peers may connect.", func(*testing.T) string { return webhookFromValues },
			[]string{"peers of networkPolicy.webhookFrom"}, []string{"any pod that reaches the port"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := notes(t, tc.values(t))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the notes lack %q:\n%s", w, got)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("the notes still say %q:\n%s", a, got)
				}
			}
		})
	}
}
