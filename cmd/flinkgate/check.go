package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"flinkgate.io/flinkgate/internal/check"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/webhook"
)

// exitCode ends the process with a status and no further message: the
// output already said why.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// The exit statuses of flinkgate check, a stable interface for CI: 0 every
// object is admitted, 1 at least one is denied, 2 usage, unreadable input or
// a look-up that failed (nothing can be said about the input).
const (
	checkDenied    exitCode = 1
	checkUndecided exitCode = 2
)

const checkUsage = `usage: flinkgate check [flags] FILE...

Runs each object in FILE (- for stdin) through flinkgate's mutating and
validating webhooks offline: ConfigMap manifests as kubectl apply takes them,
or bare DeploymentTarget and Deployment documents. Admitted objects are printed
as they would be stored; warnings and denials go to stderr, as kubectl prints
them. Targets in FILE are checked too, and deployments may reference them.
Without --kubeconfig every object is checked as a CREATE; with it, an object
the cluster stores is checked as an UPDATE of the stored one, and a stored
target is used rather than a file's of the same name (a warning says when they
differ). Exit status: 0 all admitted, 1 something denied, 2 usage, unreadable
input or a failed look-up.

flags:`

// checkTimeout bounds a whole check, cluster look-ups included.
const checkTimeout = time.Minute

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type checkConfig struct {
	targets           stringList
	files             []string
	platformNamespace string
	namespace         string
	kubeconfig        string
	format            check.Format
	// flinkServiceAccount is the Flink pods' service account in
	// -o flinkdeployment and with --flink-operator=on, unless a document
	// names one.
	flinkServiceAccount string
	// flinkAllowedServiceAccounts are the others a document may name.
	flinkAllowedServiceAccounts []string
	// flinkOperator is serve's --flink-operator: with on, the deployments
	// that cannot become a FlinkDeployment are denied, as the webhook would.
	flinkOperator flinkop.Mode
}

func parseCheckFlags(args []string, stderr io.Writer) (*checkConfig, error) {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &checkConfig{format: check.FormatManifest, flinkOperator: flinkop.ModeOff}
	defaultNS := os.Getenv("POD_NAMESPACE")
	if defaultNS == "" {
		defaultNS = "default"
	}
	fs.Var(&c.targets, "target", "file of DeploymentTargets the deployments may reference (repeatable; - for stdin)")
	fs.StringVar(&c.platformNamespace, "platform-namespace", defaultNS, "the platform namespace, as given to flinkgate serve (default $POD_NAMESPACE, else default)")
	fs.StringVar(&c.namespace, "namespace", "", "namespace of objects that name none (default: the platform namespace)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "read the stored objects and targets from this cluster (read-only GETs): existing objects are checked as UPDATEs, and stored targets win over files")
	fs.StringVar(&c.flinkServiceAccount, "flink-service-account", "flink", "with -o flinkdeployment or --flink-operator=on: the service account of the Flink pods, unless a deployment names one in spec.template.spec.kubernetes.serviceAccountName")
	flinkAllowed := fs.String("flink-allowed-service-accounts", "", "as given to flinkgate serve: comma-separated service accounts a deployment may name besides --flink-service-account")
	fs.Var(&c.flinkOperator, "flink-operator", "off or on, as given to flinkgate serve: with on, deny the deployments that cannot become a Flink Kubernetes Operator FlinkDeployment, as the webhook does")
	formatHelp := fmt.Sprintf("output format: %v (flinkdeployment: the Flink Kubernetes Operator FlinkDeployment each admitted deployment would become)", check.Formats)
	fs.Var(&c.format, "o", formatHelp)
	fs.Var(&c.format, "output", formatHelp)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	// Flags may follow the files, as with kubectl.
	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		remaining := fs.Args()
		if used := len(rest) - len(remaining); used > 0 && rest[used-1] == "--" {
			c.files = append(c.files, remaining...) // everything after -- is a file
			break
		}
		if len(remaining) == 0 {
			break
		}
		c.files = append(c.files, remaining[0])
		rest = remaining[1:]
	}
	if len(c.files) == 0 {
		fs.Usage()
		return nil, errors.New("check needs at least one FILE")
	}
	if c.namespace == "" {
		c.namespace = c.platformNamespace
	}
	c.flinkAllowedServiceAccounts = splitList(*flinkAllowed)
	for _, ns := range []string{c.platformNamespace, c.namespace} {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("namespace %q is not valid: %v", ns, errs)
		}
	}
	stdins := 0
	for _, f := range append(append([]string{}, c.files...), c.targets...) {
		if f == "-" {
			stdins++
		}
	}
	if stdins > 1 {
		return nil, errors.New("stdin (-) can be read only once")
	}
	return c, nil
}

func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c, err := parseCheckFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()

	targets, err := readTargets(c.targets, stdin, c.namespace)
	if err != nil {
		return err
	}
	var store check.Store
	if c.kubeconfig != "" {
		cluster, err := clusterLookups(c.kubeconfig)
		if err != nil {
			return err
		}
		targets.Cluster, store = cluster, cluster
	}
	var inputs []check.Input
	var skipped []check.Skipped
	for _, f := range c.files {
		in, sk, err := readInputs(f, stdin, c.namespace)
		if err != nil {
			return err
		}
		inputs, skipped = append(inputs, in...), append(skipped, sk...)
	}

	// The same server serve runs, with the files (and the cluster) as its
	// look-ups. The RBAC preflight (about the platform's ServiceAccount) and
	// the requesting user's authorization belong to a live cluster and the
	// API server's view of the user, so neither is run here.
	srv, err := webhook.NewServer(webhook.Config{Lookup: targets, PlatformNamespace: c.platformNamespace,
		FlinkOperator: flinkAdmission(c.flinkOperator, c.flinkServiceAccount, c.flinkAllowedServiceAccounts)})
	if err != nil {
		return err
	}
	results, err := check.Run(ctx, srv, targets, store, inputs)
	if err != nil {
		return err
	}
	if c.format == check.FormatFlinkDeployment {
		if err := check.TranslateDeployments(ctx, results, c.flinkServiceAccount, c.flinkAllowedServiceAccounts); err != nil {
			return err
		}
	}
	if err := check.Write(stdout, stderr, c.format, results, skipped, store != nil); err != nil {
		return err
	}
	return checkOutcome(results)
}

// readTargets reads the --target files, which may hold only
// DeploymentTargets.
func readTargets(files []string, stdin io.Reader, namespace string) (*check.Targets, error) {
	targets := &check.Targets{}
	for _, f := range files {
		inputs, _, err := readInputs(f, stdin, namespace)
		if err != nil {
			return nil, err
		}
		for _, in := range inputs {
			if kind := in.ConfigMap.Labels[resource.LabelKind]; kind != resource.KindTarget {
				return nil, fmt.Errorf("%s: --target files may hold only DeploymentTargets, found %s %q", in.Source, kind, in.ConfigMap.Name)
			}
			targets.Add(in.Source, in.ConfigMap)
		}
	}
	return targets, nil
}

// clusterLookups answers look-ups the files do not from the cluster of
// --kubeconfig.
func clusterLookups(kubeconfig string) (check.Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return check.Cluster{}, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.UserAgent = "flinkgate-check"
	cfg.Timeout = 10 * time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return check.Cluster{}, fmt.Errorf("build kubernetes client: %w", err)
	}
	return check.Cluster{Client: client}, nil
}

// checkOutcome is the exit code the results call for: checkUndecided if
// any could not be decided, else checkDenied if any was denied or could not
// be translated, else nil.
func checkOutcome(results []check.Result) error {
	code := exitCode(0)
	for i := range results {
		switch {
		case results[i].Undecided():
			code = checkUndecided
		case (!results[i].Allowed || results[i].Untranslatable != nil) && code == 0:
			code = checkDenied
		}
	}
	if code != 0 {
		return code
	}
	return nil
}

func readInputs(name string, stdin io.Reader, namespace string) ([]check.Input, []check.Skipped, error) {
	if name == "-" {
		return check.Read(stdin, name, namespace)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("open input: %w", err)
	}
	defer f.Close()
	return check.Read(f, name, namespace)
}
