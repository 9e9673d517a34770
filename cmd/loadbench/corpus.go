package main

import (
	"context"
	"fmt"
	"time"

	"flinkgate.io/flinkgate/internal/benchdata"
)

// corpusRow is one corpus document's measurement: medians of the
// alternating runs, bare (a) and flinkgate (b).
type corpusRow struct {
	name                  string
	bytes, body           int
	rateA, rateB          float64
	p99A, p99B            time.Duration
	overloaded            bool
	generatorBoundWarning bool
}

// corpusAnswer is what flinkgate must answer to a corpus document's
// CREATE: the target label and annotation, and a patched document holding
// the patch set's last value, in YAML or JSON as the document was written.
var corpusAnswer = [][]byte{
	flinkgateAnswer[0],
	flinkgateAnswer[1],
	[]byte(`bench.key9`),
	[]byte(`value-9`),
}

// runCorpus measures every corpus document (benchdata.Corpus) as the main
// measurement does, shorter: per document, o.rounds alternating runs of
// o.corpusDuration at o.concurrency, then as many at o.rate.
func runCorpus(ctx context.Context, o *options, a, b *target) ([]corpusRow, error) {
	docs := benchdata.Corpus()
	fmt.Printf("\ncorpus: %d deployments as users write them, %d alternating runs of %s per document and measurement\n", len(docs), o.rounds, o.corpusDuration)
	rows := make([]corpusRow, 0, len(docs))
	saved := b.expect
	b.expect = expectation{uid: reviewUID, patchContains: corpusAnswer}
	defer func() { b.expect = saved }()
	for _, d := range docs {
		body, err := reviewBodyOf(servedNS, d.Text)
		if err != nil {
			return nil, err
		}
		row := corpusRow{name: d.Name, bytes: len(d.Text), body: len(body)}
		// A short warm-up, so each document's first run does not pay for
		// the previous document's connections and caches.
		for _, t := range []*target{a, b} {
			if _, err := closedLoop(ctx, t, body, o.concurrency, o.corpusDuration/4); err != nil {
				return nil, fmt.Errorf("corpus document %s: warm up: %w", d.Name, err)
			}
		}
		var tput, fixed [2][]stats
		for range o.rounds {
			for i, t := range []*target{a, b} {
				s, err := closedLoop(ctx, t, body, o.concurrency, o.corpusDuration)
				if err != nil {
					return nil, fmt.Errorf("corpus document %s: %w", d.Name, err)
				}
				tput[i] = append(tput[i], s)
			}
		}
		for range o.rounds {
			for i, t := range []*target{a, b} {
				s, err := fixedRate(ctx, t, body, o.rate, o.corpusDuration)
				if err != nil {
					return nil, fmt.Errorf("corpus document %s: %w", d.Name, err)
				}
				fixed[i] = append(fixed[i], s)
				row.overloaded = row.overloaded || s.overloaded || s.failed > 0
			}
		}
		row.rateA, row.rateB = median(tput[0], stats.rate), median(tput[1], stats.rate)
		row.p99A, row.p99B = time.Duration(median(fixed[0], p(99))), time.Duration(median(fixed[1], p(99)))
		// The bare server must answer faster than flinkgate: if it does
		// not, the load generator, not flinkgate, may set the pace.
		row.generatorBoundWarning = row.rateA <= row.rateB
		fmt.Printf("  %-28s %s\n", d.Name, row.line())
		rows = append(rows, row)
	}
	return rows, nil
}

func (r corpusRow) throughputRatio() float64 { return r.rateB / r.rateA }
func (r corpusRow) p99Ratio() float64        { return float64(r.p99B) / float64(r.p99A) }

func (r corpusRow) met() bool {
	return r.throughputRatio() >= 0.6 && r.p99Ratio() <= 2
}

func (r corpusRow) line() string {
	met := "yes"
	if !r.met() {
		met = "NO"
	}
	note := ""
	if r.overloaded {
		note += " [a fixed-rate run was overloaded or failed requests]"
	}
	if r.generatorBoundWarning {
		note += " [the bare server was not faster: the load generator may set the pace]"
	}
	return fmt.Sprintf("%5d B  throughput %7.0f / %7.0f req/s = %.2f   p99 at rate %6.2f / %6.2f ms = %.2f   goals met: %s%s",
		r.bytes, r.rateA, r.rateB, r.throughputRatio(), msf(float64(r.p99A)), msf(float64(r.p99B)), r.p99Ratio(), met, note)
}
