package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"flinkgate.io/flinkgate/authz"
	"flinkgate.io/flinkgate/protection"
	"flinkgate.io/flinkgate/rbac"
)

func TestServeFlags(t *testing.T) {
	required := []string{"--tls-cert-file=c", "--tls-private-key-file=k"}
	cases := []flagCase{
		{name: "the defaults are those of the contract", args: required, check: func(c *serveConfig) bool {
			return c.webhookAddr == ":8443" && c.metricsAddr == ":8080" && c.platformNamespace == "default" &&
				slices.Equal(c.namespaces, []string{"default"}) && c.preflight == rbac.ModeEnforce && c.logLevel == zapcore.InfoLevel && c.kubeconfig == "" &&
				c.authorization == authz.ModeRBAC && c.authzCacheTTL == 5*time.Second && c.platformSA == "" && c.profilingAddr == ""
		}},
		{name: "authorization, its cache TTL and the platform's ServiceAccount are parsed", args: append([]string{"--authorization=off", "--authorization-cache-ttl=2s", "--platform-service-account=vvp"}, required...), check: func(c *serveConfig) bool {
			return c.authorization == authz.ModeOff && c.authzCacheTTL == 2*time.Second && c.platformSA == "vvp"
		}},
		{name: "an unknown authorization mode is an error", args: append([]string{"--authorization=abac"}, required...), wantError: "abac"},
		{name: "an authorization cache TTL over a minute is an error", args: append([]string{"--authorization-cache-ttl=2m"}, required...), wantError: "out of range"},
		{name: "an invalid platform ServiceAccount name is an error", args: append([]string{"--platform-service-account=Bad_SA"}, required...), wantError: "Bad_SA"},
		{name: "the platform namespace defaults to POD_NAMESPACE", env: "flink-platform", args: required, check: func(c *serveConfig) bool {
			return c.platformNamespace == "flink-platform" && slices.Equal(c.namespaces, []string{"flink-platform"})
		}},
		{name: "namespaces are split on commas", args: append([]string{"--namespaces=a, b,,c"}, required...), check: func(c *serveConfig) bool {
			return slices.Equal(c.namespaces, []string{"a", "b", "c"})
		}},
		{name: "the preflight mode and log level are parsed", args: append([]string{"--rbac-preflight=warn", "--log-level=debug"}, required...), check: func(c *serveConfig) bool {
			return c.preflight == rbac.ModeWarn && c.logLevel == zapcore.DebugLevel
		}},
		{name: "profiling is served on the address given", args: append([]string{"--profiling-addr=127.0.0.1:6060"}, required...), check: func(c *serveConfig) bool {
			return c.profilingAddr == "127.0.0.1:6060"
		}},
		{name: "leader election is on by default, with a lease in the platform namespace and the derived settle time", env: "flink-platform", args: required, check: func(c *serveConfig) bool {
			return c.leaderElect && c.leaseName == "flinkgate-protection" && c.leaseNamespace == "flink-platform" && c.settle == protection.DefaultSettle
		}},
		{name: "the lease and the settle time can be set", args: append([]string{"--leader-elect=false", "--leader-elect-lease-name=l", "--leader-elect-namespace=ops", "--protection-settle=2s"}, required...), check: func(c *serveConfig) bool {
			return !c.leaderElect && c.leaseName == "l" && c.leaseNamespace == "ops" && c.settle == 2*time.Second
		}},
		{name: "an invalid lease namespace is an error", args: append([]string{"--leader-elect-namespace=Bad_NS"}, required...), wantError: "Bad_NS"},
		{name: "the shutdown drain defaults to five seconds, within the chart's grace period", args: required, check: func(c *serveConfig) bool {
			return c.shutdownDrain == 5*time.Second
		}},
		{name: "the shutdown drain is parsed as a duration", args: append([]string{"--shutdown-drain=0s"}, required...), check: func(c *serveConfig) bool {
			return c.shutdownDrain == 0
		}},
		{name: "a shutdown drain over a minute is an error", args: append([]string{"--shutdown-drain=2m"}, required...), wantError: "between 0s and 60s"},
		{name: "webhook callers are not asked for a certificate by default", args: required, check: func(c *serveConfig) bool {
			return c.clientCAFile == "" && len(c.clientNames) == 0
		}},
		{name: "the webhook client CA and allowed names are read", args: append([]string{"--webhook-client-ca-file=ca.crt", "--webhook-client-names=kube-apiserver, apiserver.example"}, required...), check: func(c *serveConfig) bool {
			return c.clientCAFile == "ca.crt" && slices.Equal(c.clientNames, []string{"kube-apiserver", "apiserver.example"})
		}},
		{name: "the webhook port keeps at most 2048 connections by default", args: required, check: func(c *serveConfig) bool {
			return c.maxConns == defaultMaxConnections && defaultMaxConnections == 2048
		}},
		{name: "a connection bound below 16 is an error", args: append([]string{"--max-webhook-connections=8"}, required...), wantError: "want at least 16"},
		{name: "the container's memory limit and the share given to Go are read", args: append([]string{"--memory-limit=268435456", "--memory-limit-ratio=0.9"}, required...), check: func(c *serveConfig) bool {
			return c.memoryLimit == 256<<20 && c.memoryLimitRatio == 0.9
		}},
		{name: "a memory limit ratio that leaves Go no room below the container's limit is an error", args: append([]string{"--memory-limit-ratio=1"}, required...), wantError: "want between 0.5 and 0.95"},
		{name: "allowed client names without a client CA are an error", args: append([]string{"--webhook-client-names=kube-apiserver"}, required...), wantError: "needs --webhook-client-ca-file"},
		{name: "a missing certificate flag is an error", args: []string{"--tls-cert-file=c"}, wantError: "are required"},
		{name: "an unknown preflight mode is an error", args: append([]string{"--rbac-preflight=maybe"}, required...), wantError: "maybe"},
		{name: "an invalid namespace is an error", args: append([]string{"--namespaces=Bad_NS"}, required...), wantError: "Bad_NS"},
		{name: "a stray argument is an error", args: append([]string{"extra"}, required...), wantError: "unexpected arguments"},
	}
	runFlagCases(t, cases)
}

// flagCase is a serve command line and what parsing it must give: a
// configuration check passes, or an error contains wantError.
type flagCase struct {
	name      string
	env       string // POD_NAMESPACE
	args      []string
	check     func(*serveConfig) bool
	wantError string
}

func runFlagCases(t *testing.T, cases []flagCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.env)
			c, err := parseServeFlags(tc.args)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected configuration %+v (self-managed TLS %+v)", c, c.selfTLS)
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
