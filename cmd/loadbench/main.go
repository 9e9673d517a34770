// Command loadbench measures flinkgate's admission webhook against a bare Go
// TLS server that only decodes the AdmissionReview and answers "allowed",
// side by side on the same machine, with the same review body, over TLS and
// HTTP/1.1 (as the API server calls a webhook behind a Service), checking
// every answer. It starts its own control plane (etcd and
// kube-apiserver, see internal/cluster) so flinkgate serves from synced caches.
//
//	loadbench --bin TOOLSDIR --flinkgate BIN [--out DIR]   the load benchmark (make bench)
//	loadbench --scale 10000,100000 ...                     the scale benchmark (make bench-scale)
//	loadbench bare --addr ADDR --cert-dir DIR              the bare server (run by loadbench itself)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "bare" {
		err = runBare(ctx, os.Args[2:])
	} else {
		err = run(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin, flinkgate, out string
	rounds              int
	duration, warmup    time.Duration
	corpusDuration      time.Duration
	concurrency, rate   int
	apiCreates          int
	apiBlock            int
	profile             bool
	scale               []int
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	o := &options{}
	fs.StringVar(&o.bin, "bin", os.Getenv("FLINKGATE_TOOLS_BIN"), "directory with etcd and kube-apiserver (hack/tools.sh)")
	fs.StringVar(&o.flinkgate, "flinkgate", "bin/flinkgate", "the flinkgate binary to measure")
	fs.StringVar(&o.out, "out", "bench-out", "directory for the CPU and heap profiles")
	fs.IntVar(&o.rounds, "rounds", 3, "alternations a→b per measurement")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measurement")
	fs.DurationVar(&o.corpusDuration, "corpus-duration", 2*time.Second, "length of each measurement of each corpus document (internal/benchdata's corpus; 0: skip the corpus)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before the first round, per server")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent requests (each on its own kept-alive HTTP/1.1 connection) in the throughput measurement")
	fs.IntVar(&o.rate, "rate", 1000, "requests per second in the fixed-rate measurement")
	fs.IntVar(&o.apiCreates, "api-creates", 1000, "deployment ConfigMaps per round and side created, then updated (an annotation, then a label) and deleted through the API server (0: skip); with 3 rounds a p99 is the 30th slowest of 3,000")
	fs.IntVar(&o.apiBlock, "api-block", 100, "operations of one side in a row through the API server before the next side's; the metrics are scraped between blocks")
	fs.BoolVar(&o.profile, "profile", true, "capture a CPU and a heap profile of flinkgate under load")
	scale := fs.String("scale", "", "comma-separated deployment counts for the scale benchmark instead of the load benchmark, e.g. 10000,100000")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.bin == "" {
		return nil, errors.New("--bin (or FLINKGATE_TOOLS_BIN) is required; hack/tools.sh prints it")
	}
	if o.rounds < 1 || o.concurrency < 1 || o.rate < 1 || o.duration <= 0 || o.apiBlock < 1 {
		return nil, errors.New("--rounds, --concurrency, --rate, --duration and --api-block must be positive")
	}
	if o.corpusDuration < 0 {
		return nil, errors.New("--corpus-duration must not be negative")
	}
	for _, f := range strings.Split(*scale, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, fmt.Errorf("--scale: %q is not a count between 1 and 1000000", f)
		}
		o.scale = append(o.scale, n)
	}
	return o, nil
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(o.scale) > 0 {
		return runScale(ctx, o)
	}
	return runLoad(ctx, o)
}
