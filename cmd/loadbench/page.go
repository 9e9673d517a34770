package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// pageTemplate is the self-contained HTML page make bench writes beside
// its text: inline SVG and CSS only, nothing loaded from anywhere.
//
//go:embed page.html.tmpl
var pageTemplate string

var pageTmpl = template.Must(template.New("page").Parse(pageTemplate))

// renderPage writes res as the HTML page.
func renderPage(w io.Writer, res *result) error {
	if err := pageTmpl.Execute(w, newPage(res)); err != nil {
		return fmt.Errorf("render the page: %w", err)
	}
	return nil
}

// The page's view of a result: numbers formatted and charts laid out, so
// that the template only places them.
type (
	page struct {
		Made, Load, Setup string
		Ratios            []ratioRow
		RatioScale        []tick // the bars' axis, for the ratio chart
		RatioH            int    // the ratio chart's height
		Charts            []chart
		Corpus            []corpusView
		CorpusNote        string
	}
	ratioRow struct {
		What, Yardstick, Flinkgate, Ratio, Goal string
		Met                                     bool
		Y                                       int     // the bar's top in the ratio chart
		BarW, GoalX                             float64 // the bar's length and the goal's place
	}
	chart struct {
		Title, Note    string
		Lines          []chartLine
		XTicks, YTicks []tick
		Rows           []percentileRow
		PhaseColumns   []string
		Phases         []phaseView // through the API server: where the time went
	}
	phaseView struct {
		Name  string
		Sides []string
	}
	chartLine struct {
		Name, Class, Points string
		LegendY             int // the legend's line, top left in the plot
	}
	tick struct {
		Pos   float64
		Label string
	}
	percentileRow struct {
		Name, Class                 string
		P50, P90, P99, P999, Max, N string
		RatioP50, RatioP99          string // against the chart's yardstick, empty for the yardstick
	}
	corpusView struct {
		Name, Bytes, Throughput, P99 string
		Met                          bool
		Note                         string
	}
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH                         = 640, 240
	chartLeft, chartRight                  = 56, 16
	chartTop, chartBottom                  = 14, 34
	ratioLeft, ratioW, ratioRowH, ratioMax = 360, 300, 22, 2.5
	nines                                  = 3 // the charts reach p99.9
)

func newPage(res *result) page {
	pg := page{
		Made: fmt.Sprintf("%s to %s UTC", res.started.UTC().Format("2006-01-02 15:04"), res.finished.UTC().Format("15:04")),
		Load: fmt.Sprintf("load average (1, 5, 15 minutes) %s at the start, %s at the end; %d cores", res.loadStart, res.loadEnd, res.cores),
		Setup: fmt.Sprintf("Alternating runs per measurement: %d. Against the TLS server: %d concurrent for %s, then %d requests/s for %s, a %d-byte deployment CREATE over %s",
			res.rounds, res.concurrency, res.duration, res.rate, res.duration, res.bodyBytes, res.protocol),
	}
	tA, tB := median(res.tput[0], stats.rate), median(res.tput[1], stats.rate)
	add := func(what, yard, fg string, ratio float64, atLeast bool, goal float64) {
		g, met := "≤ "+ratioText(goal), ratio <= goal
		if atLeast {
			g, met = "≥ "+ratioText(goal), ratio >= goal
		}
		pg.Ratios = append(pg.Ratios, ratioRow{What: what, Yardstick: yard, Flinkgate: fg, Ratio: ratioText(ratio), Goal: g, Met: met,
			Y: len(pg.Ratios) * ratioRowH, BarW: round1(barLen(ratio)), GoalX: round1(ratioLeft + barLen(goal))})
	}
	add(fmt.Sprintf("throughput at %d concurrent, against the bare TLS server", res.concurrency),
		fmt.Sprintf("%.0f req/s", tA), fmt.Sprintf("%.0f req/s", tB), tB/tA, true, goalThroughput)
	add(fmt.Sprintf("p99 at %d req/s, against the bare TLS server", res.rate),
		msText(median(res.fixed[0], p(99))), msText(median(res.fixed[1], p(99))), res.p99Ratio(), false, goalP99)
	if a := res.api; a != nil {
		for _, y := range pairs {
			for op := range ops {
				for _, q := range []float64{50, 99} {
					add(fmt.Sprintf("%s p%.0f, against %s", opNames[op], q, y.short),
						msText(float64(a.lat[op][y.side].percentile(q))), msText(float64(a.lat[op][sideFlinkgate].percentile(q))),
						a.ratio(op, sideFlinkgate, y.side, q), false, goalPair)
				}
			}
		}
		add("create p99, against no webhooks (issue 12)",
			msText(float64(a.lat[opCreate][sideOff].percentile(99))), msText(float64(a.lat[opCreate][sideFlinkgate].percentile(99))),
			a.ratio(opCreate, sideFlinkgate, sideOff, 99), false, goalCreateOff)
	}
	pg.RatioH = len(pg.Ratios)*ratioRowH + 24
	for _, v := range []float64{0, 0.5, 1, 1.5, 2, 2.5} {
		pg.RatioScale = append(pg.RatioScale, tick{Pos: round1(ratioLeft + barLen(v)), Label: ratioText(v)})
	}

	fixedNote := ""
	if res.overloaded() {
		fixedNote = " Some runs were overloaded or failed requests: the tail means little."
	}
	pg.Charts = append(pg.Charts, newChart(
		fmt.Sprintf("Against the bare TLS server: latency at %d requests/s", res.rate),
		fmt.Sprintf("All %d runs of each server pooled, each request timed from when it was due.%s", res.rounds, fixedNote),
		[]string{"bare server", "flinkgate"}, []string{"pair", "flinkgate"}, []stats{pool(res.fixed[0]), pool(res.fixed[1])}, 0))
	if a := res.api; a != nil {
		for op := range ops {
			pg.Charts = append(pg.Charts, newChart(
				fmt.Sprintf("Through the API server: deployment %s", opNames[op]),
				fmt.Sprintf("%d operations per side, one at a time, the sides alternating in blocks of %d; ratios against the do-nothing pair. The pair + patch + GET answers a create with flinkgate's patch and reads the target live; it answers the other operations as the pair does, on the larger objects that patch stored.", a.n(), a.block),
				[]string{"without webhooks", "bare server as both webhooks", "the same, with flinkgate's patch and a live GET", "flinkgate's webhooks"}, []string{"off", "pair", "read", "flinkgate"},
				a.lat[op][:], 1))
			c := &pg.Charts[len(pg.Charts)-1]
			c.PhaseColumns = sideNames[:]
			for _, r := range a.phaseRows(op) {
				v := phaseView{Name: r.Name}
				for side := range sides {
					cell := "–"
					if r.Calls[side] > 0 {
						cell = fmt.Sprintf("%.2f × %.3f ms", r.Calls[side], r.MeanMS[side])
					}
					v.Sides = append(v.Sides, cell)
				}
				c.Phases = append(c.Phases, v)
			}
		}
	}
	pg.CorpusNote = fmt.Sprintf("Each document: medians of %d alternating runs of %s at %d concurrent, then as many at %d requests/s.", res.rounds, res.corpusDuration, res.concurrency, res.rate)
	for _, c := range res.corpus {
		v := corpusView{Name: c.name, Bytes: strconv.Itoa(c.bytes), Met: c.met(),
			Throughput: fmt.Sprintf("%.0f / %.0f req/s = %s", c.rateA, c.rateB, ratioText(c.throughputRatio())),
			P99:        fmt.Sprintf("%s / %s = %s", msText(float64(c.p99A)), msText(float64(c.p99B)), ratioText(c.p99Ratio()))}
		if c.overloaded {
			v.Note = "a fixed-rate run was overloaded or failed requests"
		}
		if c.generatorBoundWarning {
			v.Note = strings.TrimPrefix(v.Note+"; the bare server was not faster", "; ")
		}
		pg.Corpus = append(pg.Corpus, v)
	}
	return pg
}

// newChart draws each side's latency by percentile, on a scale of nines
// (p0, p90, p99, p99.9 equally spaced) so that the tail is as wide as the
// body; yardstick is the line the ratios are taken against.
func newChart(title, note string, names, classes []string, sides []stats, yardstick int) chart {
	c := chart{Title: title, Note: note}
	plotW, plotH := float64(chartW-chartLeft-chartRight), float64(chartH-chartTop-chartBottom)
	quantile := func(t float64) float64 { return 100 * (1 - math.Pow(10, -t)) }
	top := 0.0
	for _, s := range sides {
		top = max(top, float64(s.percentile(quantile(nines))))
	}
	top = niceCeil(msf(top))
	for i, s := range sides {
		var pts []string
		for k := 0; k <= 60; k++ {
			t := nines * float64(k) / 60
			y := min(msf(float64(s.percentile(quantile(t)))), top)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", chartLeft+plotW*t/nines, chartTop+plotH*(1-y/top)))
		}
		c.Lines = append(c.Lines, chartLine{Name: names[i], Class: classes[i], Points: strings.Join(pts, " "), LegendY: chartTop + 10 + 16*i})
		row := percentileRow{Name: names[i], Class: classes[i], N: strconv.Itoa(s.requests),
			P50: msText(float64(s.percentile(50))), P90: msText(float64(s.percentile(90))), P99: msText(float64(s.percentile(99))),
			P999: msText(float64(s.percentile(99.9))), Max: msText(float64(s.percentile(100)))}
		if i != yardstick {
			y := sides[yardstick]
			row.RatioP50 = ratioText(float64(s.percentile(50)) / float64(y.percentile(50)))
			row.RatioP99 = ratioText(float64(s.percentile(99)) / float64(y.percentile(99)))
		}
		c.Rows = append(c.Rows, row)
	}
	for _, x := range []struct {
		t     float64
		label string
	}{{0, "p0"}, {math.Log10(2), "p50"}, {1, "p90"}, {2, "p99"}, {3, "p99.9"}} {
		c.XTicks = append(c.XTicks, tick{Pos: round1(chartLeft + plotW*x.t/nines), Label: x.label})
	}
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		c.YTicks = append(c.YTicks, tick{Pos: round1(chartTop + plotH*(1-v/top)), Label: strconv.FormatFloat(v, 'g', 4, 64) + " ms"})
	}
	return c
}

// pool merges runs' latencies into one distribution.
func pool(runs []stats) stats {
	var all []time.Duration
	var elapsed time.Duration
	for _, s := range runs {
		all = append(all, s.latencies...)
		elapsed += s.elapsed
	}
	return newStats(all, elapsed)
}

// niceCeil is the smallest of 1, 2, 2.5 and 5 times a power of ten not below v.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*base >= v*(1-1e-9) {
			return m * base
		}
	}
	return 10 * base
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func barLen(ratio float64) float64 { return ratioW * min(max(ratio, 0), ratioMax) / ratioMax }

func ratioText(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

func msText(ns float64) string { return strconv.FormatFloat(msf(ns), 'f', 2, 64) + " ms" }

// The charts' fixed geometry, for the template.
func (page) RatioChartW() int      { return ratioLeft + ratioW + 44 }
func (p page) RatioAxisY() int     { return len(p.Ratios) * ratioRowH }
func (p page) RatioLabelY() int    { return p.RatioAxisY() + 16 }
func (page) RatioLeft() int        { return ratioLeft }
func (page) ChartW() int           { return chartW }
func (page) ChartH() int           { return chartH }
func (page) ChartLeft() int        { return chartLeft }
func (page) ChartLabelX() int      { return chartLeft - 6 }
func (page) ChartRightX() int      { return chartW - chartRight }
func (page) ChartAxisY() int       { return chartH - chartBottom }
func (page) ChartTickY() int       { return chartH - chartBottom + 5 }
func (page) ChartLabelY() int      { return chartH - chartBottom + 18 }
func (r ratioRow) TextY() int      { return r.Y + 14 }
func (r ratioRow) LabelX() float64 { return max(ratioLeft+r.BarW, r.GoalX) + 4 }
func (page) LegendX1() int         { return chartLeft + 12 }
func (page) LegendX2() int         { return chartLeft + 36 }
func (page) LegendTextX() int      { return chartLeft + 42 }
func (r ratioRow) BarY() int       { return r.Y + 3 }
func (r ratioRow) GoalY2() int     { return r.Y + ratioRowH - 2 }
