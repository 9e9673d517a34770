// Command flinkgate is the DeploymentTarget admission webhook.
//
//	flinkgate serve [flags]                       run the webhook
//	flinkgate check [flags] FILE...               admit manifests offline, as the webhook would
//	flinkgate certs generate --out DIR --hosts H  write a CA and serving certificate
//	flinkgate probe --url URL --ca-file F         check that the webhooks answer
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"flinkgate.io/flinkgate/certs"
)

const usage = `usage:
  flinkgate serve [flags]                          run the admission webhook (see flinkgate serve -h)
  flinkgate check [flags] FILE...                  admit manifests offline, as the webhook would (see flinkgate check -h)
  flinkgate certs generate --out DIR --hosts H,... write ca.crt, tls.crt and tls.key for local runs and tests
  flinkgate probe --url URL --ca-file F            check that the webhooks answer over TLS (the helm test hook)`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		var code exitCode
		if errors.As(err, &code) {
			os.Exit(int(code))
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "flinkgate:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	switch {
	case len(args) >= 1 && args[0] == "serve":
		cfg, err := parseServeFlags(args[1:])
		if err != nil {
			return err
		}
		return serve(ctx, cfg)
	case len(args) >= 1 && args[0] == "check":
		return runCheck(ctx, args[1:], os.Stdin, os.Stdout, os.Stderr)
	case len(args) >= 1 && args[0] == "probe":
		return probeWebhooks(ctx, args[1:], os.Stdout)
	case len(args) >= 2 && args[0] == "certs" && args[1] == "generate":
		return generateCerts(args[2:])
	default:
		return fmt.Errorf("unknown command %q\n%s", strings.Join(args, " "), usage)
	}
}

func generateCerts(args []string) error {
	fs := flag.NewFlagSet("certs generate", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write ca.crt, tls.crt and tls.key into (required)")
	hosts := fs.String("hosts", "", "comma-separated DNS names and IP addresses the certificate covers (required)")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificates are valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *hosts == "" {
		return errors.New("certs generate needs --out and --hosts")
	}
	b, err := certs.Generate(splitList(*hosts), *validity)
	if err != nil {
		return err
	}
	return b.WriteFiles(*out)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
