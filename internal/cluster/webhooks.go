package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/charts"
	"flinkgate.io/flinkgate/internal/resource"
)

const (
	// WebhookConfigName names both webhook configurations RegisterWebhooks
	// creates.
	WebhookConfigName = "flinkgate"
	// MutatingWebhookName and ValidatingWebhookName are the webhooks' names
	// in the chart, which the API server quotes in denials.
	MutatingWebhookName   = "mutate.flinkgate.io"
	ValidatingWebhookName = "validate.flinkgate.io"

	// webhooksTemplate is the chart template with both webhook configurations.
	webhooksTemplate = "templates/webhooks.yaml"
	// webhookTimeout bounds the wait until the API server calls a newly
	// registered webhook; it usually takes well under a second.
	webhookTimeout = time.Minute
)

// RegisterWebhooks registers flinkgate's webhooks, named WebhookConfigName,
// at <url>/mutate and <url>/validate for flinkgate's ConfigMaps in the given
// namespaces; see RegisterWebhooksNamed.
func (c *Cluster) RegisterWebhooks(ctx context.Context, url string, caBundle []byte, namespaces []string) error {
	return c.RegisterWebhooksNamed(ctx, WebhookConfigName, url, caBundle, namespaces)
}

// RegisterWebhooksNamed registers the webhook configurations the chart
// renders (helm template with webhook.url, so both the registration and the
// SPEC's settings come from the one chart) under the given name, replacing
// earlier ones of that name, and returns once the API server calls both. The
// first namespace must exist: the wait probes it. Several names may be
// registered at once, for flinkgates serving different namespaces.
func (c *Cluster) RegisterWebhooksNamed(ctx context.Context, name, url string, caBundle []byte, namespaces []string) error {
	started := time.Now()
	mutating, validating, err := c.replacingWebhooks(ctx, name, url, caBundle, namespaces)
	if err != nil {
		return err
	}

	// The API server loads webhook configurations asynchronously. The
	// validating webhook goes first: while the mutating one is absent, a
	// denial naming the validating webhook proves it is in effect, and then
	// a denial naming the mutating webhook proves that one is.
	api := c.client.AdmissionregistrationV1()
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create validating webhook configuration %s: %w", name, err)
	}
	if err := c.waitForDenial(ctx, namespaces[0], ValidatingWebhookName); err != nil {
		return err
	}
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create mutating webhook configuration %s: %w", name, err)
	}
	if err := c.waitForDenial(ctx, namespaces[0], MutatingWebhookName); err != nil {
		return err
	}
	c.logf("webhooks %s at %s in effect after %s", name, url, time.Since(started).Round(time.Millisecond))
	return nil
}

// CreateWebhooksNamed registers the chart's webhook configurations under
// the given name, like RegisterWebhooksNamed, but returns at once: for a
// server that never denies, whose caller confirms in its own way that the
// API server calls it. The webhooks are named "<name>.<chart's name>", so
// that the API server's metrics tell them from flinkgate's.
func (c *Cluster) CreateWebhooksNamed(ctx context.Context, name, url string, caBundle []byte, namespaces []string) error {
	mutating, validating, err := c.replacingWebhooks(ctx, name, url, caBundle, namespaces)
	if err != nil {
		return err
	}
	mutating.Webhooks[0].Name = name + "." + mutating.Webhooks[0].Name
	validating.Webhooks[0].Name = name + "." + validating.Webhooks[0].Name
	api := c.client.AdmissionregistrationV1()
	if _, err := api.ValidatingWebhookConfigurations().Create(ctx, validating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create validating webhook configuration %s: %w", name, err)
	}
	if _, err := api.MutatingWebhookConfigurations().Create(ctx, mutating, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create mutating webhook configuration %s: %w", name, err)
	}
	return nil
}

// replacingWebhooks renders the webhook configurations of the given name
// and deletes any registered under it, for the caller to create anew.
func (c *Cluster) replacingWebhooks(ctx context.Context, name, url string, caBundle []byte, namespaces []string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	if len(namespaces) == 0 {
		return nil, nil, errors.New("register webhooks: no namespaces")
	}
	mutating, validating, err := c.renderWebhooks(ctx, name, url, caBundle, namespaces)
	if err != nil {
		return nil, nil, err
	}
	if err := c.UnregisterWebhooks(ctx, name); err != nil {
		return nil, nil, err
	}
	return mutating, validating, nil
}

// UnregisterWebhooks deletes both webhook configurations of the given name,
// if they exist. The API server may call them for a moment longer.
func (c *Cluster) UnregisterWebhooks(ctx context.Context, name string) error {
	api := c.client.AdmissionregistrationV1()
	if err := api.MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete mutating webhook configuration %s: %w", name, err)
	}
	if err := api.ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete validating webhook configuration %s: %w", name, err)
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// renderWebhooks runs helm template on the embedded chart in secret mode (so
// it renders no certificate of its own) with webhook.url, and decodes the two
// webhook configurations strictly.
func (c *Cluster) renderWebhooks(ctx context.Context, name, url string, caBundle []byte, namespaces []string) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	chart, err := c.chart()
	if err != nil {
		return nil, nil, err
	}
	values, err := yaml.Marshal(map[string]any{
		"fullnameOverride": name,
		"webhook":          map[string]any{"url": url, "namespaces": namespaces},
		"tls": map[string]any{
			"mode":       "secret",
			"secretName": name + "-tls", // unused: only the webhooks are rendered
			"caBundle":   base64.StdEncoding.EncodeToString(caBundle),
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encode webhook values: %w", err)
	}
	// The values file is written next to the chart, not passed as --set:
	// helm splits --set values at commas.
	valuesFile := filepath.Join(filepath.Dir(chart), "webhooks-"+name+".yaml")
	if err := os.WriteFile(valuesFile, values, 0o600); err != nil {
		return nil, nil, fmt.Errorf("write webhook values: %w", err)
	}
	out, _, err := c.Helm(ctx, "template", name, chart, "--namespace", namespaces[0],
		"--show-only", webhooksTemplate, "--values", valuesFile)
	if err != nil {
		return nil, nil, fmt.Errorf("render the chart's webhook configurations: %w", err)
	}
	var (
		mutating   *admissionregistrationv1.MutatingWebhookConfiguration
		validating *admissionregistrationv1.ValidatingWebhookConfiguration
	)
	for _, doc := range docSeparator.Split(out, -1) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, nil, fmt.Errorf("decode rendered webhook configuration: %w", err)
		}
		switch head.Kind {
		case "":
			continue // only comments
		case "MutatingWebhookConfiguration":
			mutating = new(admissionregistrationv1.MutatingWebhookConfiguration)
			err = yaml.UnmarshalStrict([]byte(doc), mutating)
		case "ValidatingWebhookConfiguration":
			validating = new(admissionregistrationv1.ValidatingWebhookConfiguration)
			err = yaml.UnmarshalStrict([]byte(doc), validating)
		default:
			err = fmt.Errorf("unexpected kind %s", head.Kind)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("decode rendered %s: %w", head.Kind, err)
		}
	}
	// The waits below recognise each webhook by the name the API server
	// quotes; a renamed webhook in the chart must fail here, clearly.
	if mutating == nil || len(mutating.Webhooks) != 1 || mutating.Webhooks[0].Name != MutatingWebhookName ||
		validating == nil || len(validating.Webhooks) != 1 || validating.Webhooks[0].Name != ValidatingWebhookName {
		return nil, nil, fmt.Errorf("the chart's %s does not render one webhook %s and one %s:\n%s",
			webhooksTemplate, MutatingWebhookName, ValidatingWebhookName, out)
	}
	return mutating, validating, nil
}

// chart writes the embedded chart into the cluster directory once.
func (c *Cluster) chart() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chartDir != "" {
		return c.chartDir, nil
	}
	dir, err := charts.WriteTo(filepath.Join(c.Dir, "chart"))
	if err != nil {
		return "", err
	}
	c.chartDir = dir
	return dir, nil
}

// waitForDenial dry-run creates a ConfigMap with an invalid kind label until
// the named webhook denies it; SPEC section 1 has flinkgate deny any kind
// other than DeploymentTarget and Deployment.
func (c *Cluster) waitForDenial(ctx context.Context, namespace, webhookName string) error {
	probe := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "flinkgate-webhook-probe",
			Namespace: namespace,
			Labels:    map[string]string{resource.LabelKind: "Bogus"},
		},
		Data: map[string]string{resource.DataKey: "kind: Bogus\nspec: {}\n"},
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
