package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden page")

// fixedResult is a small result with known ratios: flinkgate at 0.90 of
// the bare server's throughput and 1.50 of its p99; through the API
// server, 1.20 of the pair's create p99 (1.09 of the pair that patches
// alike and reads the target live) and 1.05 of its update p50.
func fixedResult() *result {
	runOf := func(base time.Duration, n int) stats {
		lat := make([]time.Duration, n)
		for i := range lat {
			lat[i] = base + time.Duration(i)*base/time.Duration(n)
		}
		return newStats(lat, time.Second)
	}
	scaled := func(s stats, f float64) stats {
		lat := make([]time.Duration, len(s.latencies))
		for i, d := range s.latencies {
			lat[i] = time.Duration(float64(d) * f)
		}
		return newStats(lat, s.elapsed)
	}
	started := time.Date(2026, 12, 7, 3, 40, 0, 0, time.UTC)
	res := &result{
		started: started, finished: started.Add(4 * time.Minute), loadStart: "4.10 3.90 3.20", loadEnd: "5.00 4.20 3.40",
		cores: 2, bodyBytes: 1830, rounds: 1, corpusDuration: 200 * time.Millisecond, concurrency: 16, rate: 1000, duration: time.Second, protocol: "HTTP/1.1",
	}
	bare := runOf(time.Millisecond, 100)
	res.tput = [2][]stats{{{requests: 1000, elapsed: time.Second}}, {{requests: 900, elapsed: time.Second}}}
	res.fixed = [2][]stats{{bare}, {scaled(bare, 1.5)}}
	api := &apiResult{perRound: 100, block: 50, rounds: 1}
	for op, f := range [ops]float64{1.2, 0.98, 1.05, 1.0} {
		off := runOf(4*time.Millisecond, 100)
		pair := scaled(off, 1.25)
		// The pair + patch + GET is 1.10 of the pair on a create (so flinkgate
		// is 1.09 of it) and the pair again elsewhere.
		read := pair
		if op == opCreate {
			read = scaled(pair, 1.1)
		}
		api.lat[op] = [sides]stats{off, pair, read, scaled(pair, f)}
		api.phases[op] = [sides]timings{
			{{"apiserver_request_duration_seconds", "POST configmaps"}: {0.4, 100}},
			{{"apiserver_request_duration_seconds", "POST configmaps"}: {0.5, 100}, {"apiserver_admission_webhook_admission_duration_seconds", "mutate.flinkgate.io admit CREATE"}: {0.1, 100}},
			{{"apiserver_request_duration_seconds", "POST configmaps"}: {0.55, 100}, {"apiserver_admission_webhook_admission_duration_seconds", "mutate.flinkgate.io admit CREATE"}: {0.1, 100}},
			{{"apiserver_request_duration_seconds", "POST configmaps"}: {0.6, 100}, {"apiserver_admission_webhook_admission_duration_seconds", "mutate.flinkgate.io admit CREATE"}: {0.15, 100}, {"flinkgate_admission_duration_seconds", "mutate CREATE"}: {0.02, 100}},
		}
	}
	res.api = api
	res.corpus = []corpusRow{{name: "quoted.yaml", bytes: 1010, rateA: 1000, rateB: 700, p99A: 2 * time.Millisecond, p99B: 5 * time.Millisecond}}
	return res
}

func TestThePageIsWellFormedAndShowsTheRatios(t *testing.T) {
	var buf bytes.Buffer
	if err := renderPage(&buf, fixedResult()); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden := filepath.Join("testdata", "page.golden.html")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the page differs from %s (go test -run %s -update, then review the diff)", golden, t.Name())
	}
	// Well-formed: every element closed and nested, as XML sees it.
	d := xml.NewDecoder(bytes.NewReader(got))
	d.Strict = true
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("the page is not well-formed: %v", err)
		}
	}
	page := string(got)
	for _, want := range []string{
		"<td>0.90</td>", // throughput against the bare server
		"<td>1.50</td>", // p99 at the fixed rate
		"<td>1.20</td>", // create p99 against the pair
		"<td>1.05</td>", // label update p50 against the pair
		"<td>1.09</td>", // create against the pair that reads live
		"deployment delete",
		"mutate.flinkgate.io admit CREATE",
		"<svg", "<polyline",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Self-contained: nothing to load, nothing to run.
	for _, banned := range []string{"<script", "<link", "http:", "https:", "src="} {
		if strings.Contains(page, banned) {
			t.Errorf("the page contains %q", banned)
		}
	}
}

func TestTheSummaryShowsThePairRatiosPerOperation(t *testing.T) {
	var buf bytes.Buffer
	res := fixedResult()
	res.api.write(&buf)
	res.writeSummary(&buf)
	text := buf.String()
	for _, want := range []string{
		"create p50 1.20 p99 1.20;",
		"label update p50 1.05 p99 1.05;",
		"delete p50 1.00 p99 1.00;",
		"reads the target live (goal ≤ 1.10 each): create p50 1.09 p99 1.09;",
		"what the patch and the read cost, pair + patch + GET / pair: p50 1.10  p99 1.10",
		"throughput 0.90 (goal ≥ 0.80)",
		"webhook call mutate.flinkgate.io admit CREATE",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q:\n%s", want, text)
		}
	}
}
