//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/internal/cluster"
)

// clientAuthFlinkgate is a flinkgate of the test's own that completes TLS
// only with the API server: the control plane presents a certificate from
// its own webhook client CA to every webhook.
func clientAuthFlinkgate(t *testing.T, base string) *suite {
	t.Helper()
	return ownFlinkgate(t, base, "--webhook-client-ca-file="+sharedEnv(t).c.WebhookClientCAFile(), "--webhook-client-names="+cluster.WebhookClientName)
}

// refusals reads flinkgate_webhook_client_refusals_total{reason}.
func refusals(t *testing.T, s *suite, reason string) float64 {
	t.Helper()
	f := scrapeFamilies(t, s)["flinkgate_webhook_client_refusals_total"]
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" && l.GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("flinkgate exports no flinkgate_webhook_client_refusals_total{reason=%q}", reason)
	return 0
}

// TestOnlyTheAPIServerGetsPastFlinkgatesTLS runs flinkgate with
// --webhook-client-ca-file: writes through the API server are admitted and
// patched as ever, while a pod that reaches the port directly is refused
// in the TLS handshake, before a byte of its review is read.
func TestOnlyTheAPIServerGetsPastFlinkgatesTLS(t *testing.T) {
	s := clientAuthFlinkgate(t, "clientauth")
	target := s.seedTarget(t)
	job := name("job")
	s.apply(t, s.exampleDeployment(t, job, target))
	if got := s.get(t, job).Metadata.Labels["flinkgate.io/deployment-target"]; got != target {
		t.Fatalf("a deployment created through the API server was not patched by flinkgate: label %q", got)
	}

	var dep corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(s.exampleDeployment(t, name("direct"), target)), &dep); err != nil {
		t.Fatal(err)
	}
	review := pipelineReview(t, "direct", &dep)
	admin := s.c.RestConfig().TLSClientConfig
	adminCert, err := tls.X509KeyPair(admin.CertData, admin.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		certs  []tls.Certificate
		reason string
	}{
		{"a caller without a client certificate is refused in the handshake", nil, "no_certificate"},
		{"a caller with a cluster administrator's certificate is refused in the handshake, since the cluster CA is not the webhook client CA", []tls.Certificate{adminCert}, "untrusted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refusals(t, s, tc.reason)
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(s.fg.CABundle()) {
				t.Fatal("the CA bundle holds no certificate")
			}
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: tc.certs}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := client.Post(s.fg.WebhookURL()+"/validate", "application/json", bytes.NewReader(review))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the review was answered with HTTP %d; want a refused handshake", resp.StatusCode)
			}
			t.Logf("the caller saw: %v", err)
			if after := refusals(t, s, tc.reason); after <= before {
				t.Errorf("flinkgate_webhook_client_refusals_total{reason=%q} stayed at %v", tc.reason, after)
			}
		})
	}
}

// TestForgedFloodIsRefusedWhenOnlyTheAPIServerIsAccepted repeats the
// forged-review flood of TestForgedLiveReadFloodDoesNotFailLegitimateCreates
// with --webhook-client-ca-file: every forged connection ends in the
// handshake, no forged review reaches a live read or an access review, and
// every create through the API server is admitted. Run by hand with
// FLINKGATE_FLOOD_CONNS=2048, the size at which every create fails without
// client authentication, it passes too (docs/security.md, "Accepting
// only the API server"); the default is half that, for margin on a busy CI machine.
func TestForgedFloodIsRefusedWhenOnlyTheAPIServerIsAccepted(t *testing.T) {
	loadTestOnNewestOnly(t)
	s := clientAuthFlinkgate(t, "clientauth-flood")
	f := runForgedFlood(t, s, floodConnections(t, authFloodConns), nil)
	if n := f.tally.total() - f.tally.transportErrors(); n > 0 {
		t.Errorf("%d forged reviews got an HTTP answer; every one should have been refused in the handshake", n)
	}
	if f.tally.total() == 0 {
		t.Error("the flood made no attempt")
	}
	f.checkCreates(t)
}

// authFloodConns is half the flood that fails every create without client
// authentication; each attempt is a new handshake.
const authFloodConns = 1024
