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
	"net/http"
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
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
	}}
	for _, path := range []string{"/mutate", "/validate"} {
		if err := probeOne(ctx, client, strings.TrimSuffix(*url, "/")+path); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s%s answered\n", strings.TrimSuffix(*url, "/"), path)
	}
	return nil
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
