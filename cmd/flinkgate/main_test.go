package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"flinkgate.io/flinkgate/internal/authz"
	"flinkgate.io/flinkgate/internal/flinkop"
	"flinkgate.io/flinkgate/internal/protection"
	"flinkgate.io/flinkgate/rbac"
)

func TestServeFlags(t *testing.T) {
	required := []string{"--tls-cert-file=c", "--tls-private-key-file=k"}
	cases := []flagCase{
		{name: "the defaults are those of the contract", args: required},
		{name: "authorization, its cache TTL and the platform's ServiceAccount are parsed", args: append([]string{"--authorization=off", "--authorization-cache-ttl=2s", "--platform-service-account=vvp"}, required...), want: func(c *serveConfig) {
			c.authorization, c.authzCacheTTL, c.platformSA = authz.ModeOff, 2*time.Second, "vvp"
		}},
		{name: "an unknown authorization mode is an error", args: append([]string{"--authorization=abac"}, required...), wantError: "abac"},
		{name: "an authorization cache TTL over a minute is an error", args: append([]string{"--authorization-cache-ttl=2m"}, required...), wantError: "out of range"},
		{name: "an invalid platform ServiceAccount name is an error", args: append([]string{"--platform-service-account=Bad_SA"}, required...), wantError: "Bad_SA"},
		{name: "the platform namespace, the served namespaces and the lease's default to POD_NAMESPACE", env: "flink-platform", args: required},
		{name: "namespaces are split on commas", args: append([]string{"--namespaces=a, b,,c"}, required...), want: func(c *serveConfig) {
			c.namespaces = []string{"a", "b", "c"}
		}},
		{name: "the preflight mode and log level are parsed", args: append([]string{"--rbac-preflight=warn", "--log-level=debug"}, required...), want: func(c *serveConfig) {
			c.preflight, c.logLevel = rbac.ModeWarn, zapcore.DebugLevel
		}},
		{name: "profiling is served on the address given", args: append([]string{"--profiling-addr=127.0.0.1:6060"}, required...), want: func(c *serveConfig) {
			c.profilingAddr = "127.0.0.1:6060"
		}},
		{name: "the lease and the settle time can be set", args: append([]string{"--leader-elect=false", "--leader-elect-lease-name=l", "--leader-elect-namespace=ops", "--protection-settle=2s"}, required...), want: func(c *serveConfig) {
			c.leaderElect, c.leaseName, c.leaseNamespace, c.settle = false, "l", "ops", 2*time.Second
		}},
		{name: "an invalid lease namespace is an error", args: append([]string{"--leader-elect-namespace=Bad_NS"}, required...), wantError: "Bad_NS"},
		{name: "the shutdown drain is parsed as a duration", args: append([]string{"--shutdown-drain=0s"}, required...), want: func(c *serveConfig) {
			c.shutdownDrain = 0
		}},
		{name: "a shutdown drain over a minute is an error", args: append([]string{"--shutdown-drain=2m"}, required...), wantError: "between 0s and 60s"},
		{name: "the webhook client CA and allowed names are read", args: append([]string{"--webhook-client-ca-file=ca.crt", "--webhook-client-names=kube-apiserver, apiserver.example"}, required...), want: func(c *serveConfig) {
			c.clientCAFile, c.clientNames = "ca.crt", []string{"kube-apiserver", "apiserver.example"}
		}},
		{name: "the webhook connection bound is parsed", args: append([]string{"--max-webhook-connections=16"}, required...), want: func(c *serveConfig) {
			c.maxConns = 16
		}},
		{name: "a connection bound below 16 is an error", args: append([]string{"--max-webhook-connections=8"}, required...), wantError: "want at least 16"},
		{name: "the container's memory limit and the share given to Go are read", args: append([]string{"--memory-limit=268435456", "--memory-limit-ratio=0.9"}, required...), want: func(c *serveConfig) {
			c.memoryLimit, c.memoryLimitRatio = 256<<20, 0.9
		}},
		{name: "a memory limit ratio that leaves Go no room below the container's limit is an error", args: append([]string{"--memory-limit-ratio=1"}, required...), wantError: "want between 0.5 and 0.95"},
		{name: "allowed client names without a client CA are an error", args: append([]string{"--webhook-client-names=kube-apiserver"}, required...), wantError: "needs --webhook-client-ca-file"},
		{name: "the Flink operator reconciler and its pods' ServiceAccount are parsed", args: append([]string{"--flink-operator=on", "--flink-service-account=flink-jobs"}, required...), want: func(c *serveConfig) {
			c.flinkOperator, c.flinkServiceAccount = flinkop.ModeOn, "flink-jobs"
		}},
		{name: "the Flink operator with authorization off is an error, since targets could then aim at any namespace", args: append([]string{"--flink-operator=on", "--authorization=off"}, required...), wantError: "--flink-operator=on needs --authorization=rbac"},
		{name: "an unknown Flink operator mode is an error", args: append([]string{"--flink-operator=yes"}, required...), wantError: "yes"},
		{name: "an invalid Flink pods' ServiceAccount name is an error", args: append([]string{"--flink-service-account=Bad_SA"}, required...), wantError: "Bad_SA"},
		{name: "the ServiceAccounts a deployment may name besides the default are a comma-separated list", args: append([]string{"--flink-allowed-service-accounts=fraud-jobs, etl-jobs"}, required...), want: func(c *serveConfig) {
			c.flinkAllowedServiceAccounts = []string{"fraud-jobs", "etl-jobs"}
		}},
		{name: "an invalid name among the allowed ServiceAccounts is an error", args: append([]string{"--flink-allowed-service-accounts=fraud-jobs,Bad_SA"}, required...), wantError: "--flink-allowed-service-accounts \"Bad_SA\""},
		{name: "a missing certificate flag is an error", args: []string{"--tls-cert-file=c"}, wantError: "are required"},
		{name: "an unknown preflight mode is an error", args: append([]string{"--rbac-preflight=maybe"}, required...), wantError: "maybe"},
		{name: "an invalid namespace is an error", args: append([]string{"--namespaces=Bad_NS"}, required...), wantError: "Bad_NS"},
		{name: "a stray argument is an error", args: append([]string{"extra"}, required...), wantError: "unexpected arguments"},
	}
	runFlagCases(t, cases)
}

// contractDefaults is the configuration of --tls-cert-file=c and
// --tls-private-key-file=k alone, with the platform namespace ns: what the
// contract and the chart rely on, written out rather than taken from the
// constants that set them.
func contractDefaults(ns string) serveConfig {
	return serveConfig{
		certFile: "c", keyFile: "k", webhookAddr: ":8443", metricsAddr: ":8080",
		platformNamespace: ns, namespaces: []string{ns}, logLevel: zapcore.InfoLevel,
		preflight: rbac.ModeEnforce, authorization: authz.ModeRBAC, authzCacheTTL: 5 * time.Second,
		leaderElect: true, leaseName: "flinkgate-protection", leaseNamespace: ns, settle: protection.DefaultSettle,
		selfTLS: selfTLSFlags{caValidity: 5 * 365 * 24 * time.Hour, certValidity: 90 * 24 * time.Hour,
			overlap: 2 * time.Minute, syncPeriod: 15 * time.Second},
		shutdownDrain: 5 * time.Second, maxConns: 2048, memoryLimitRatio: 0.875,
		flinkOperator: flinkop.ModeOff, flinkServiceAccount: "flink",
	}
}

// flagCase is a serve command line and what parsing it must give: the
// configuration contractDefaults gives as want changes it (nil: unchanged),
// or an error containing wantError.
type flagCase struct {
	name      string
	env       string // POD_NAMESPACE
	args      []string
	want      func(*serveConfig)
	wantError string
}

func runFlagCases(t *testing.T, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.env)
			got, err := parseServeFlags(tc.args)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ns := tc.env
			if ns == "" {
				ns = "default"
			}
			want := contractDefaults(ns)
			if tc.want != nil {
				tc.want(&want)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("parsed\n%+v\nwant\n%+v", *got, want)
			}
		})
	}
}

func TestCertsGenerateWritesTheThreeFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := run(t.Context(), []string{"certs", "generate", "--out", dir, "--hosts", "127.0.0.1,localhost"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || len(b) == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestUnknownCommandIsAnError(t *testing.T) {
	if err := run(t.Context(), []string{"launch"}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("got %v, want an error with the usage", err)
	}
}
