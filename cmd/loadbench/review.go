package main

import (
	"encoding/json"
	"fmt"

	"flinkgate.io/flinkgate/internal/benchdata"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// The objects every load run uses: one target with a 10-operation patch set
// and a deployment CREATE of about 1.7 KB, as the issue measured.
const (
	targetName     = "staging"
	deploymentName = "top-speed-windowing"
	reviewUID      = "4f1c2a9e-0d3b-4e5f-8a6b-7c8d9e0f1a2b"
	kindLabel      = "flinkgate.io/kind"
)

// targetConfigMap is the target every run creates in namespace.
func targetConfigMap(namespace string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: targetName, Namespace: namespace, Labels: map[string]string{kindLabel: "DeploymentTarget"},
			Annotations: map[string]string{"flinkgate.io/namespace": "staging"}},
		Data:      map[string]string{"resource.yaml": benchdata.TargetDocument()},
		Immutable: new(true),
	}
}

// deploymentConfigMap is the deployment as kubectl apply would send it.
func deploymentConfigMap(namespace, name string) *corev1.ConfigMap {
	return deploymentConfigMapOf(namespace, name, benchdata.DeploymentDocument)
}

// deploymentConfigMapOf is deploymentConfigMap holding document.
func deploymentConfigMapOf(namespace, name, document string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{kindLabel: "Deployment", "app.kubernetes.io/part-of": "flink-bench"},
		},
		Data: map[string]string{"resource.yaml": document},
	}
	return cm
}

// reviewBody is the AdmissionReview of a deployment CREATE, shaped like the
// API server's: kubectl's last-applied annotation makes it ~1.7 KB.
func reviewBody(namespace string) ([]byte, error) {
	return reviewBodyOf(namespace, benchdata.DeploymentDocument)
}

// reviewBodyOf is reviewBody for a deployment holding document.
func reviewBodyOf(namespace, document string) ([]byte, error) {
	cm := deploymentConfigMapOf(namespace, deploymentName, document)
	applied, err := json.Marshal(cm)
	if err != nil {
		return nil, fmt.Errorf("marshal last-applied configuration: %w", err)
	}
	cm.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(applied) + "\n"}
	cm.CreationTimestamp = metav1.Now()
	cm.UID = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	raw, err := json.Marshal(cm)
	if err != nil {
		return nil, fmt.Errorf("marshal deployment: %w", err)
	}
	dry := false
	review := &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(reviewUID),
			Kind:            metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Resource:        metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			RequestKind:     &metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"},
			Name:            deploymentName,
			Namespace:       namespace,
			Operation:       admissionv1.Create,
			UserInfo:        authenticationv1.UserInfo{Username: "system:admin", Groups: []string{"system:masters", "system:authenticated"}},
			Object:          runtime.RawExtension{Raw: raw},
			DryRun:          &dry,
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1","fieldManager":"kubectl-client-side-apply","fieldValidation":"Strict"}`)},
		},
	}
	return json.Marshal(review)
}
