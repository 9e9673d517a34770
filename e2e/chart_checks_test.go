//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"flinkgate.io/flinkgate/rbac"
)

// The checks of TestChartOnTheLocalControlPlane: RBAC answers, the serving
// certificate, the release's objects, the audit log and the metrics.

// kubectlPermission is one verb on one resource as kubectl names it:
// "deployments.apps", or "pods" in the core group.
type kubectlPermission struct{ verb, resource string }

// requiredKubectlPermissions expands rbac.RequiredRules, SPEC section 5's
// list, into single permissions.
func requiredKubectlPermissions(t *testing.T) []kubectlPermission {
	t.Helper()
	var perms []kubectlPermission
	for _, rule := range rbac.RequiredRules() {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				if group != "" {
					resource += "." + group
				}
				for _, verb := range rule.Verbs {
					perms = append(perms, kubectlPermission{verb: verb, resource: resource})
				}
			}
		}
	}
	if len(perms) == 0 {
		t.Fatal("rbac.RequiredRules() lists no permissions")
	}
	return perms
}

type canICheck struct{ ns, verb, resource string }

func (c canICheck) String() string { return fmt.Sprintf("%s %s -n %s", c.verb, c.resource, c.ns) }

// wantCanI runs `kubectl auth can-i` as the chart's ServiceAccount for every
// check, canIWorkers at a time, and fails with every check whose answer is
// not want. A "yes" is retried until a shared deadline, because the API
// server's authorizer learns of new Roles from an informer; a "no" is final.
func (s *chartSuite) wantCanI(t *testing.T, checks []canICheck, want bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	var (
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
		jobs     = make(chan canICheck)
	)
	for range canIWorkers {
		wg.Go(func() {
			for c := range jobs {
				var (
					got bool
					err error
				)
				poll(time.Until(deadline), func() (bool, error) {
					got, err = s.canI(c)
					return err != nil || got == want || !want, err
				})
				if err != nil || got != want {
					msg := fmt.Sprintf("can-i %s: %s", c, yesNo(got))
					if err != nil {
						msg = fmt.Sprintf("can-i %s: %v", c, err)
					}
					mu.Lock()
					failures = append(failures, msg)
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range checks {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	slices.Sort(failures)
	if len(failures) > 0 {
		t.Errorf("want %s for all %d checks as %s; %d differ:\n%s", yesNo(want), len(checks), chartSA, len(failures), strings.Join(failures, "\n"))
	} else {
		t.Logf("kubectl auth can-i --as=%s answered %s to all %d checks", chartSA, yesNo(want), len(checks))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// canI asks kubectl. kubectl answers "yes" (exit 0) or "no" (exit 1) on
// stdout; anything else, or anything on stderr (such as "the server doesn't
// have a resource type"), is an error rather than a "no".
func (s *chartSuite) canI(c canICheck) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, errOut, err := s.c.Kubectl(ctx, "auth", "can-i", c.verb, c.resource, "-n", c.ns, "--as="+chartSA)
	answer := strings.TrimSpace(out)
	var exit *exec.ExitError
	switch {
	case strings.TrimSpace(errOut) != "":
		return false, fmt.Errorf("stdout %q, stderr %q", answer, strings.TrimSpace(errOut))
	case answer == "yes" && err == nil:
		return true, nil
	case answer == "no" && errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	default:
		return false, fmt.Errorf("stdout %q, err %v; want yes or no", answer, err)
	}
}

// whoAmI returns the user a kubeconfig authenticates as.
func whoAmI(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with %s: %v", kubeconfig, err)
	}
	return review.Status.UserInfo.Username
}

// verifyServingCert checks that crtPEM is valid for host under caPEM.
func verifyServingCert(t *testing.T, crtPEM, caPEM []byte, host string) {
	t.Helper()
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatalf("tls.crt is not PEM:\n%s", crtPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse tls.crt: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.crt holds no PEM certificate:\n%s", caPEM)
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("the chart's certificate does not serve %s under its ca.crt: %v", host, err)
	}
}

// chartObject identifies one object of a release.
type chartObject struct{ kind, namespace, name string }

func (o chartObject) String() string {
	if o.namespace == "" {
		return o.kind + "/" + o.name
	}
	return o.kind + "/" + o.namespace + "/" + o.name
}

// parseObjects lists the objects of a multi-document manifest.
func parseObjects(t *testing.T, manifest string) []chartObject {
	t.Helper()
	var objects []chartObject
	for doc := range strings.SplitSeq(manifest, "\n---") {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("parse the release's manifest: %v\n%s", err, doc)
		}
		if obj.Kind == "" {
			continue // an empty document
		}
		objects = append(objects, chartObject{obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name})
	}
	if len(objects) == 0 {
		t.Fatalf("the release's manifest has no objects:\n%s", manifest)
	}
	return objects
}

// wantChartObjects are objects the release must contain (SPEC section 5),
// so that the uninstall check covers them.
func wantChartObjects() []chartObject {
	objects := []chartObject{
		{"MutatingWebhookConfiguration", "", chartFullname},
		{"ValidatingWebhookConfiguration", "", chartFullname},
		{"ClusterRole", "", chartFullname + "-webhook"},
		{"ClusterRoleBinding", "", chartFullname + "-webhook"},
		{"Role", chartNS, chartFullname + "-webhook"},
		{"RoleBinding", chartNS, chartFullname + "-webhook"},
		{"ServiceAccount", chartNS, chartFullname},
		{"ServiceAccount", chartNS, chartWebhookName},
		{"ClusterRole", "", chartFullname + "-target-admin"},
		{"ClusterRole", "", chartFullname + "-deployer"},
		{"Secret", chartNS, chartTLSSecret},
		{"Deployment", chartNS, chartFullname},
		{"Service", chartNS, chartFullname},
	}
	for _, ns := range append(slices.Clone(listed), laterAdded) {
		objects = append(objects,
			chartObject{"Role", ns, chartFullname + "-appmanager"},
			chartObject{"RoleBinding", ns, chartFullname + "-appmanager"})
	}
	return objects
}

// auditEvent is what the test reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// auditEvents returns the API server's audit events of user's requests.
func (s *chartSuite) auditEvents(t *testing.T, user string) []auditEvent {
	t.Helper()
	b, err := os.ReadFile(s.c.AuditLog)
	if err != nil {
		t.Fatalf("read the API server's audit log: %v", err)
	}
	var events []auditEvent
	for line := range strings.Lines(string(b)) {
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // the last line may be half written
		}
		if e.User.Username == user {
			events = append(events, e)
		}
	}
	return events
}

// metricSamples maps each series of a Prometheus text exposition to its
// value, e.g. `flinkgate_deployment_targets` to "2".
func metricSamples(body string) map[string]string {
	samples := map[string]string{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			samples[line[:i]] = line[i+1:]
		}
	}
	return samples
}

func nonEmptyLines(s string) []string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
