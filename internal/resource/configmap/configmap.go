// Package configmap reads the contract's objects out of Kubernetes
// ConfigMaps, keeping package resource free of the API machinery.
package configmap

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"flinkgate.io/flinkgate/internal/resource"
)

// Object is what package resource reads of cm.
func Object(cm *corev1.ConfigMap) resource.Object {
	return resource.Object{
		Name: cm.Name, Namespace: cm.Namespace,
		UID: string(cm.UID), ResourceVersion: cm.ResourceVersion, Terminating: cm.DeletionTimestamp != nil,
		Data: cm.Data, BinaryData: cm.BinaryData,
		FlinkAuthorized: cm.Annotations[resource.AnnotationFlinkAuthorized] == "true",
	}
}

// ParseTarget parses the DeploymentTarget stored in cm, stopping when ctx
// ends.
func ParseTarget(ctx context.Context, cm *corev1.ConfigMap) (*resource.Target, error) {
	return resource.ParseTarget(ctx, Object(cm))
}

// ParseDeployment parses the Deployment stored in cm, stopping when ctx
// ends.
func ParseDeployment(ctx context.Context, cm *corev1.ConfigMap) (*resource.Deployment, error) {
	return resource.ParseDeployment(ctx, Object(cm))
}

// FromGet reads the answer to a GET of a target's ConfigMap: a ConfigMap
// that is missing or carries another kind is no target; any other error
// means the look-up failed. ok is false when lookup is already the answer.
func FromGet(namespace, name string, cm *corev1.ConfigMap, err error) (lookup resource.TargetLookup, ok bool) {
	switch {
	case apierrors.IsNotFound(err):
		return resource.TargetLookup{}, false
	case err != nil:
		return resource.TargetLookup{Err: fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)}, false
	case cm.Labels[resource.LabelKind] != resource.KindTarget:
		return resource.TargetLookup{}, false
	}
	return resource.TargetLookup{}, true
}
