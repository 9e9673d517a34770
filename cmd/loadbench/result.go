package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// result is everything one load benchmark measured: the text summary and
// the HTML page are both written from it.
type result struct {
	started, finished  time.Time
	loadStart, loadEnd string // the first three fields of /proc/loadavg
	cores              int
	bodyBytes          int
	rounds             int
	concurrency, rate  int
	duration           time.Duration
	tput, fixed        [2][]stats // a = bare, b = flinkgate
	corpus             []corpusRow
	api                *apiResult // nil when skipped
	corpusDuration     time.Duration
	protocol           string
}

// loadAverage is the 1-, 5- and 15-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// The goals of issues 12 and 24, each a same-run ratio flinkgate / yardstick.
const (
	goalThroughput = 0.80 // at least, against the bare server
	goalP99        = 2.00 // at most, at the fixed rate
	goalCreateOff  = 1.30 // issue 12: create p99 with both webhooks against none (at most)
	goalPair       = 1.10 // issue 24: p50 and p99 against the do-nothing pair (at most)
)

func (r *result) throughputRatio() float64 {
	return median(r.tput[1], stats.rate) / median(r.tput[0], stats.rate)
}

func (r *result) p99Ratio() float64 {
	return median(r.fixed[1], p(99)) / median(r.fixed[0], p(99))
}

func (r *result) overloaded() bool {
	for _, runs := range r.fixed {
		for _, s := range runs {
			if s.overloaded || s.failed > 0 {
				return true
			}
		}
	}
	return false
}

// necessaryWork says what the pair + patch + GET does beyond the bare pair
// in each operation.
var necessaryWork = [ops]string{
	opCreate:   "what the patch and the read cost",
	opAnnotate: "what updating flinkgate's larger objects costs",
	opLabel:    "what updating flinkgate's larger objects costs",
	opDelete:   "what deleting flinkgate's larger objects costs",
}

// writeAPI writes the measurement through the API server: per operation,
// each side's latencies, the ratios flinkgate/pair, and the phases side by
// side.
func (a *apiResult) write(w io.Writer) {
	fmt.Fprintf(w, "\nthrough the API server: %d deployment ConfigMaps per side created, updated (an annotation, then a label) and deleted, one at a time, the sides alternating in blocks of %d, in %d round(s)\n", a.n(), a.block, a.rounds)
	if a.scrapes > 0 {
		fmt.Fprintf(w, "  (%d scrapes of the metrics between blocks took %s in all, outside the measured operations)\n", a.scrapes, a.scraping.Round(time.Millisecond))
	}
	for op := range ops {
		fmt.Fprintf(w, "  %s\n", opNames[op])
		for side := range sides {
			s := a.lat[op][side]
			fmt.Fprintf(w, "    %-22s p50 %s  p90 %s  p99 %s  max %s\n", sideNames[side], ms(s.percentile(50)), ms(s.percentile(90)), ms(s.percentile(99)), ms(s.percentile(100)))
		}
		fmt.Fprintf(w, "    flinkgate / the pair:  p50 %.2f  p99 %.2f (goal ≤ %.2f each)\n", a.ratio(op, sideFlinkgate, sideBare, 50), a.ratio(op, sideFlinkgate, sideBare, 99), goalPair)
		fmt.Fprintf(w, "    flinkgate / the pair + patch + GET:  p50 %.2f  p99 %.2f (goal ≤ %.2f each); %s, pair + patch + GET / pair: p50 %.2f  p99 %.2f\n",
			a.ratio(op, sideFlinkgate, sideRead, 50), a.ratio(op, sideFlinkgate, sideRead, 99), goalPair, necessaryWork[op], a.ratio(op, sideRead, sideBare, 50), a.ratio(op, sideRead, sideBare, 99))
		fmt.Fprintf(w, "    where the time went, per %s (calls per %s, mean per call; a CPU row is that process's CPU time per %s), the same runs:\n", opNames[op], opNames[op], opNames[op])
		fmt.Fprintf(w, "      %-66s", "")
		for side := range sides {
			fmt.Fprintf(w, " %20s", sideNames[side])
		}
		fmt.Fprintln(w)
		for _, row := range a.phaseRows(op) {
			fmt.Fprintf(w, "      %-66s", row.Name)
			for side := range sides {
				if row.Calls[side] == 0 {
					fmt.Fprintf(w, " %20s", "-")
					continue
				}
				fmt.Fprintf(w, "   %5.2f × %8.3fms", row.Calls[side], row.MeanMS[side])
			}
			fmt.Fprintln(w)
		}
	}
}

// writeSummary writes the medians, the corpus and the ratios against the goals.
func (r *result) writeSummary(w io.Writer) {
	fmt.Fprintf(w, "\nsummary (median of %d alternating run(s) each; %s to %s UTC, load average %s at the start, %s at the end, %d cores)\n",
		r.rounds, r.started.UTC().Format("2006-01-02 15:04"), r.finished.UTC().Format("15:04"), r.loadStart, r.loadEnd, r.cores)
	fmt.Fprintf(w, "  %-44s %14s %14s %8s\n", "", "a: bare", "b: flinkgate", "b/a")
	ta, tb := median(r.tput[0], stats.rate), median(r.tput[1], stats.rate)
	row := func(name string, va, vb float64, unit string) {
		fmt.Fprintf(w, "  %-44s %12.2f%-2s %12.2f%-2s %8.2f\n", name, va, unit, vb, unit, vb/va)
	}
	row(fmt.Sprintf("throughput at %d concurrent (req/s)", r.concurrency), ta, tb, "")
	row(fmt.Sprintf("p99 at %d concurrent", r.concurrency), msf(median(r.tput[0], p(99))), msf(median(r.tput[1], p(99))), "ms")
	for _, q := range []float64{50, 90, 99} {
		row(fmt.Sprintf("p%.0f at %d req/s", q, r.rate), msf(median(r.fixed[0], p(q))), msf(median(r.fixed[1], p(q))), "ms")
	}
	row(fmt.Sprintf("max at %d req/s", r.rate), msf(median(r.fixed[0], p(100))), msf(median(r.fixed[1], p(100))), "ms")
	if a := r.api; a != nil {
		for _, side := range []int{sideBare, sideRead, sideFlinkgate} {
			fmt.Fprintf(w, "  through the API server, deployment ConfigMap create (a = without webhooks, b = %s):\n", sideNames[side])
			row("  p50", msf(float64(a.lat[opCreate][sideOff].percentile(50))), msf(float64(a.lat[opCreate][side].percentile(50))), "ms")
			row("  p99", msf(float64(a.lat[opCreate][sideOff].percentile(99))), msf(float64(a.lat[opCreate][side].percentile(99))), "ms")
		}
		for _, y := range pairs {
			for op := range ops {
				fmt.Fprintf(w, "  through the API server, deployment %s (a = %s, b = flinkgate's; goal ≤ %.2f):\n", opNames[op], y.short, goalPair)
				for _, q := range []float64{50, 99} {
					row(fmt.Sprintf("  p%.0f", q), msf(float64(a.lat[op][y.side].percentile(q))), msf(float64(a.lat[op][sideFlinkgate].percentile(q))), "ms")
				}
			}
		}
	}
	if len(r.corpus) > 0 {
		fmt.Fprintf(w, "\n  corpus (throughput at %d concurrent and p99 at %d req/s, bare / flinkgate; goals ≥ 0.60 and ≤ 2.00):\n", r.concurrency, r.rate)
		for _, c := range r.corpus {
			fmt.Fprintf(w, "  %-28s %s\n", c.name, c.line())
		}
	}
	overloaded := ""
	if r.overloaded() {
		overloaded = " [some fixed-rate runs were overloaded: that ratio does not mean much]"
	}
	fmt.Fprintf(w, "\nratio b/a: throughput %.2f (goal ≥ %.2f); p99 at %d req/s %.2f (goal ≤ %.2f)%s",
		r.throughputRatio(), goalThroughput, r.rate, r.p99Ratio(), goalP99, overloaded)
	if a := r.api; a != nil {
		fmt.Fprintf(w, "; API server create p99 %.2f (goal ≤ %.2f; the bare server as both webhooks: %.2f)",
			a.ratio(opCreate, sideFlinkgate, sideOff, 99), goalCreateOff, a.ratio(opCreate, sideBare, sideOff, 99))
		for _, y := range pairs {
			fmt.Fprintf(w, "\nratio flinkgate / %s (goal ≤ %.2f each):", y.long, goalPair)
			for op := range ops {
				fmt.Fprintf(w, " %s p50 %.2f p99 %.2f;", opNames[op], a.ratio(op, sideFlinkgate, y.side, 50), a.ratio(op, sideFlinkgate, y.side, 99))
			}
		}
	}
	fmt.Fprintln(w)
}
