//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// TestPipelinedReviewsOverOneTLSConnectionToFlinkgateServe sends reviews of
// different sizes and outcomes to a real `flinkgate serve`, first each on a
// connection of its own, then all pipelined on one kept-alive TLS
// connection (every next request already waiting while the one before is
// answered over the connection's buffer), in three orders: every pipelined
// answer must be the one the review got alone, its uid and patch included.
func TestPipelinedReviewsOverOneTLSConnectionToFlinkgateServe(t *testing.T) {
	s := admissionSuite(t)
	target := s.seedTarget(t)
	var dep corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(s.exampleDeployment(t, name("pipelined"), target)), &dep); err != nil {
		t.Fatal(err)
	}
	big := dep.DeepCopy() // over the 16 KiB a connection keeps
	big.Annotations = map[string]string{"note": strings.Repeat("<&>\u2028é~/", 2000)}
	missing := dep.DeepCopy()
	missing.Data["resource.yaml"] = strings.Replace(dep.Data["resource.yaml"], "deploymentTargetName: "+target, "deploymentTargetName: no-such-target", 1)
	reviews := [][]byte{
		pipelineReview(t, "0000-big", big),
		pipelineReview(t, "1111", &dep),
		[]byte("not json"),
		pipelineReview(t, "2222-missing-target", missing),
		pipelineReview(t, "3333", &dep),
		pipelineReview(t, "4444-big", big),
		pipelineReview(t, "5555", &dep),
	}

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.fg.CABundle()) {
		t.Fatal("the CA bundle holds no certificate")
	}
	host := strings.TrimPrefix(s.fg.WebhookURL(), "https://")
	// send writes the reviews pipelined on one connection and reads their
	// answers, in order.
	send := func(bodies [][]byte) []string {
		t.Helper()
		conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var all bytes.Buffer
		for _, b := range bodies {
			fmt.Fprintf(&all, "POST /mutate?timeout=10s HTTP/1.1\r\nHost: flinkgate\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(b))
			all.Write(b)
		}
		go func() { _, _ = conn.Write(all.Bytes()) }()
		br := bufio.NewReader(conn)
		out := make([]string, len(bodies))
		for i := range bodies {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("answer %d of %d: %v", i, len(bodies), err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("answer %d of %d: %v", i, len(bodies), err)
			}
			out[i] = fmt.Sprint(resp.StatusCode, " ", string(body))
		}
		return out
	}
	alone := make([]string, len(reviews))
	for i, b := range reviews {
		alone[i] = send([][]byte{b})[0]
	}
	// The answers must be worth comparing: patched, denied, refused.
	for i, want := range map[int]string{1: `"patch":`, 2: "400 ", 3: `"allowed":false`, 4: `"patch":`} {
		if !strings.Contains(alone[i], want) {
			t.Fatalf("review %d alone was answered %.300s, want it to contain %s", i, alone[i], want)
		}
	}
	if patch := patchOf(t, alone[1]); !strings.Contains(patch, "/data/resource.yaml") {
		t.Fatalf("the deployment's patch does not replace its document: %.300s", patch)
	}
	// Bad JSON answers 400 and the server keeps the connection, so it may
	// stand anywhere in the pipeline.
	orders := map[string][]int{
		"large before small":      {0, 1, 2, 3, 4, 5, 6},
		"small before large":      {6, 5, 4, 3, 2, 1, 0},
		"large and small in turn": {1, 0, 3, 4, 5, 2, 6, 0, 1, 4, 3},
	}
	for order, idx := range orders {
		t.Run(order, func(t *testing.T) {
			bodies := make([][]byte, len(idx))
			for j, i := range idx {
				bodies[j] = reviews[i]
			}
			for j, got := range send(bodies) {
				if want := alone[idx[j]]; got != want {
					t.Errorf("review %d (pipelined as %d) answered\n%.600s\nalone\n%.600s", idx[j], j, got, want)
				}
			}
		})
	}
}

// pipelineReview is a CREATE review of cm by an administrator, with uid.
func pipelineReview(t *testing.T, uid string, cm *corev1.ConfigMap) []byte {
	t.Helper()
	raw, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("pipelined-" + uid),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Name:      cm.Name,
			Namespace: cm.Namespace,
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}},
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patchOf is the decoded patch of an answer "status body".
func patchOf(t *testing.T, answer string) string {
	t.Helper()
	_, body, _ := strings.Cut(answer, " ")
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(body), &rv); err != nil || rv.Response == nil {
		t.Fatalf("the answer is not an AdmissionReview: %v: %.300s", err, body)
	}
	return string(rv.Response.Patch)
}
