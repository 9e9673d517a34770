package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// WebhookConfigName names both webhook configurations RegisterWebhooks
	// creates.
	WebhookConfigName = "flinkgate"
	// MutatingWebhookName and ValidatingWebhookName are the webhooks' names,
	// which the API server quotes in denials.
	MutatingWebhookName   = "mutate.flinkgate.io"
	ValidatingWebhookName = "validate.flinkgate.io"

	kindLabel = "flinkgate.io/kind"
	// NamespaceControllerUser is the namespace controller's identity when
	// kube-controller-manager runs with --use-service-account-credentials.
	NamespaceControllerUser = "system:serviceaccount:kube-system:namespace-controller"
	// webhookTimeout bounds the wait until the API server calls a newly
	// registered webhook; it usually takes well under a second.
	webhookTimeout = time.Minute
)

// RegisterWebhooks registers flinkgate's webhooks at <url>/mutate and
// <url>/validate for ConfigMaps with the kind label in the given namespaces,
// replacing earlier registrations, and returns once the API server calls
// both. The first namespace must exist: the wait probes it.
func (c *Cluster) RegisterWebhooks(ctx context.Context, url string, caBundle []byte, namespaces []string) error {
	if len(namespaces) == 0 {
		return errors.New("register webhooks: no namespaces")
	}
	url = strings.TrimSuffix(url, "/")
	started := time.Now()
	api := c.client.AdmissionregistrationV1()
	if err := api.MutatingWebhookConfigurations().Delete(ctx, WebhookConfigName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete old mutating webhook configuration: %w", err)
	}
	if err := api.ValidatingWebhookConfigurations().Delete(ctx, WebhookConfigName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete old validating webhook configuration: %w", err)
	}

	// The API server loads webhook configurations asynchronously. The
	// validating webhook goes first: while the mutating one is absent, a
	// denial naming the validating webhook proves it is in effect, and then
	// a denial naming the mutating webhook proves that one is.
	w := webhook(url+"/validate", caBundle, namespaces)
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    ValidatingWebhookName,
			ClientConfig:            w.ClientConfig,
			Rules:                   w.Rules,
			FailurePolicy:           w.FailurePolicy,
			MatchPolicy:             w.MatchPolicy,
			NamespaceSelector:       w.NamespaceSelector,
			ObjectSelector:          w.ObjectSelector,
			SideEffects:             w.SideEffects,
			MatchConditions:         w.MatchConditions,
			TimeoutSeconds:          w.TimeoutSeconds,
			AdmissionReviewVersions: w.AdmissionReviewVersions,
		}},
	}
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create validating webhook configuration: %w", err)
	}
	if err := c.waitForDenial(ctx, namespaces[0], ValidatingWebhookName); err != nil {
		return err
	}

	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: WebhookConfigName},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{webhook(url+"/mutate", caBundle, namespaces)},
	}
	mutating.Webhooks[0].Name = MutatingWebhookName
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create mutating webhook configuration: %w", err)
	}
	if err := c.waitForDenial(ctx, namespaces[0], MutatingWebhookName); err != nil {
		return err
	}
	c.logf("webhooks at %s in effect after %s", url, time.Since(started).Round(time.Millisecond))
	return nil
}

// webhook is the registration both webhooks share (SPEC section 5), in the
// mutating type because it has every field of the validating one.
func webhook(url string, caBundle []byte, namespaces []string) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{
				admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete,
			},
			Rule: admissionregistrationv1.Rule{
				APIGroups:   []string{""},
				APIVersions: []string{"v1"},
				Resources:   []string{"configmaps"},
				Scope:       new(admissionregistrationv1.NamespacedScope),
			},
		}},
		FailurePolicy: new(admissionregistrationv1.Fail),
		MatchPolicy:   new(admissionregistrationv1.Equivalent),
		NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: namespaces,
		}}},
		ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: kindLabel, Operator: metav1.LabelSelectorOpExists,
		}}},
		SideEffects: new(admissionregistrationv1.SideEffectClassNone),
		// As the chart does: the namespace controller must be able to empty a
		// namespace that is being deleted even when flinkgate, whose pods
		// usually live there, is already gone.
		MatchConditions: []admissionregistrationv1.MatchCondition{{
			Name:       "not-the-namespace-controller",
			Expression: "request.userInfo.username != '" + NamespaceControllerUser + "'",
		}},
		TimeoutSeconds:          new(int32(10)),
		AdmissionReviewVersions: []string{"v1"},
	}
}

// waitForDenial dry-run creates a ConfigMap with an invalid kind label until
// the named webhook denies it; SPEC section 1 has flinkgate deny any kind
// other than DeploymentTarget and Deployment.
func (c *Cluster) waitForDenial(ctx context.Context, namespace, webhookName string) error {
	probe := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "flinkgate-webhook-probe",
			Namespace: namespace,
			Labels:    map[string]string{kindLabel: "Bogus"},
		},
		Data: map[string]string{"resource.yaml": "kind: Bogus\nspec: {}\n"},
	}
	want := fmt.Sprintf("admission webhook %q denied the request", webhookName)
	return poll(ctx, webhookTimeout, "webhook "+webhookName+" to take effect", nil, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ConfigMaps(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err == nil:
			return false, errors.New("the probe ConfigMap was admitted")
		case strings.Contains(err.Error(), want):
			return true, nil
		default:
			return false, err
		}
	})
}
