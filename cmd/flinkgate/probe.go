package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// probeWebhooks checks that a running flinkgate answers AdmissionReviews on
// /mutate and /validate over TLS it can verify: what the chart's `helm test`
// hook runs against the Service. The request is for a resource flinkgate does
// not judge (a Secret), so it is allowed and counts as no denial.
func probeWebhooks(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	url := fs.String("url", "", "base URL of the webhooks, e.g. https://flinkgate.flink-platform.svc:443 (required)")
	caFile := fs.String("ca-file", "", "PEM file of the CA the serving certificate chains to")
	caB64 := fs.String("ca-bundle-base64", "", "the same CA as base64 PEM (a webhook caBundle), instead of --ca-file")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit for each request")
	clientAuth := fs.Bool("expect-client-auth", false, "flinkgate runs with --webhook-client-ca-file: pass when it refuses this probe, which has no client certificate, in the TLS handshake after presenting a certificate the CA verifies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || (*caFile == "") == (*caB64 == "") {
		return errors.New("probe needs --url and exactly one of --ca-file and --ca-bundle-base64")
	}
	var ca []byte
	var err error
	if *caFile != "" {
		ca, err = os.ReadFile(*caFile)
	} else {
		ca, err = base64.StdEncoding.DecodeString(*caB64)
	}
	if err != nil {
		return fmt.Errorf("read the ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("the ca holds no PEM certificate")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if *clientAuth {
		if err := probeRefusal(ctx, strings.TrimSuffix(*url, "/"), tlsConfig, *timeout); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s refused a caller without the API server's client certificate\n", strings.TrimSuffix(*url, "/"))
		return nil
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	for _, path := range []string{"/mutate", "/validate"} {
		if err := probeOne(ctx, client, strings.TrimSuffix(*url, "/")+path); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s%s answered\n", strings.TrimSuffix(*url, "/"), path)
	}
	return nil
}

// verdictWait is how long a refusal may take to arrive after the handshake.
const verdictWait = 2 * time.Second

// probeRefusal passes when the server at url proves its certificate and then
// refuses the handshake for want of a client certificate: it is up, and only
// the API server gets past TLS.
func probeRefusal(ctx context.Context, url string, cfg *tls.Config, timeout time.Duration) error {
	u, err := neturl.Parse(url)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("probe: --url %q is not an https URL", url)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", host)
	if err == nil {
		defer conn.Close()
		// A TLS 1.3 server's verdict on the client's certificate arrives
		// after the client's side of the handshake is done, at once.
		_ = conn.SetDeadline(time.Now().Add(min(timeout, verdictWait)))
		_, err = conn.Read(make([]byte, 1))
	}
	var nerr net.Error
	switch {
	case refusedForCertificate(err):
		return nil
	case err == nil || (errors.As(err, &nerr) && nerr.Timeout() && ctx.Err() == nil):
		return fmt.Errorf("probe %s: the server completed TLS with a caller without a client certificate; is --webhook-client-ca-file set?", url)
	case remoteAlert(err) == "tls: internal error":
		// flinkgate refuses so, before presenting its certificate, when it
		// would refuse the API server too.
		return fmt.Errorf("probe %s: the server refused the handshake before presenting its certificate; if it is flinkgate, its webhook client CA is not loaded and it refuses the API server too: see its /readyz and log: %w", url, err)
	}
	return fmt.Errorf("probe %s: want the handshake refused for want of a client certificate, got: %w", url, err)
}

// refusedForCertificate tells a server's bad_certificate or
// certificate_required alert. crypto/tls reports a peer's alert as a
// net.OpError "remote error" around an unexported type, so only its text
// tells which alert it was.
func refusedForCertificate(err error) bool {
	msg := remoteAlert(err)
	return msg == "tls: bad certificate" || msg == "tls: certificate required"
}

// remoteAlert is the text of the alert a peer sent, or "".
func remoteAlert(err error) string {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return ""
	}
	return op.Err.Error()
}

func probeOne(ctx context.Context, client *http.Client, url string) error {
	var id [8]byte
	_, _ = rand.Read(id[:])
	uid := types.UID("flinkgate-probe-" + hex.EncodeToString(id[:]))
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Secret"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "secrets"},
			Operation: admissionv1.Create,
			Name:      "flinkgate-probe",
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return fmt.Errorf("encode the probe: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("probe %s: read the answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("probe %s: the answer is not an AdmissionReview: %w", url, err)
	}
	if answer.Response == nil || answer.Response.UID != uid {
		return fmt.Errorf("probe %s: the answer does not respond to request %s", url, uid)
	}
	return nil
}
