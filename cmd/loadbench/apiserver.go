package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/flowcontrol"
)

// The sides of the API-server measurement.
const (
	sideOff  = iota // no webhook selects the namespace
	sideBare        // the bare server registered as both webhooks
	// sideRead is the bare pair doing, in no time, what any implementation
	// must make the API server do: on a create its mutating call answers
	// with flinkgate's own patch (the target's patch set applied, the
	// label and annotations) and its validating call reads the target
	// live, as in-use protection needs. It answers every other operation
	// as the bare pair does, but on the objects that patch stored, which
	// are flinkgate's: larger than the bare pair's, and slower to update
	// and delete.
	sideRead
	sideFlinkgate // flinkgate's webhooks
	sides
)

var sideNames = [sides]string{"without webhooks", "bare server as both", "pair + patch + GET", "flinkgate, both"}

// pairs are the yardsticks issue 24 holds flinkgate to through the API
// server, with the short name the summary and page use and the long one of
// the closing ratio line.
var pairs = []struct {
	side        int
	short, long string
}{
	{sideBare, "the do-nothing pair", "the do-nothing pair through the API server"},
	{sideRead, "the pair + patch + GET", "the pair + patch + GET, which patches as flinkgate does and reads the target live"},
}

// The operations on a deployment measured through the API server: issue 24
// holds flinkgate to the do-nothing pair on each.
const (
	opCreate = iota
	// opAnnotate changes only an annotation outside flinkgate.io/: the
	// chart's matchConditions send it to neither webhook of either side.
	opAnnotate
	// opLabel changes only a label: metadata only, but sent to both.
	opLabel
	opDelete
	ops
)

var opNames = [ops]string{"create", "annotation update", "label update", "delete"}

// admissionOps are the operations as the API server and flinkgate label them.
var admissionOps = [ops]string{"CREATE", "UPDATE", "UPDATE", "DELETE"}

// webhookCalls is how many webhook calls the chart's registration makes of
// each operation: both webhooks, except for an UPDATE that changes nothing
// flinkgate reads (docs/user-guide.md#what-flinkgate-sees).
var webhookCalls = [ops]int{2, 0, 2, 2}

// touched is the annotation and the label the two metadata-only updates change.
const touched = "loadbench.flinkgate.io/touched"

// apiResult is the measurement through the API server: each operation's
// latencies per side and, for the same runs, the API server's and
// flinkgate's histograms (the sums and counts that moved while that side
// ran that operation).
type apiResult struct {
	perRound, block, rounds int
	lat                     [ops][sides]stats
	phases                  [ops][sides]timings
	// scrapes and scraping are the metrics scrapes between blocks and the
	// time they took, outside every measured operation.
	scrapes  int
	scraping time.Duration
}

// n is the number of operations of each kind per side.
func (a *apiResult) n() int { return a.perRound * a.rounds }

// ratio is q-th percentile of side x over side y for operation op.
func (a *apiResult) ratio(op, x, y int, q float64) float64 {
	return float64(a.lat[op][x].percentile(q)) / float64(a.lat[op][y].percentile(q))
}

// apiClient creates, updates and deletes deployment ConfigMaps in the
// three sides' namespaces and checks each answer.
type apiClient struct {
	client     kubernetes.Interface
	namespaces [sides]string
	// patched is what flinkgate stores for a created deployment (its data,
	// labels and annotations; setBarePatch learns it): every create of
	// flinkgate's side and of the pair + patch + GET must store the same.
	patched *corev1.ConfigMap
}

// samePatched reports whether cm holds what p does: data, binary data,
// labels, annotations, finalizers and immutable (nil and empty alike).
func samePatched(cm, p *corev1.ConfigMap) bool {
	held := func(c *corev1.ConfigMap) []any {
		return []any{c.Data, c.BinaryData, c.Labels, c.Annotations, c.Finalizers, c.Immutable}
	}
	return p != nil && equality.Semantic.DeepEqual(held(cm), held(p))
}

func (c *apiClient) create(ctx context.Context, side int, name string) (*corev1.ConfigMap, time.Duration, error) {
	ns := c.namespaces[side]
	t0 := time.Now()
	got, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, deploymentConfigMap(ns, name), metav1.CreateOptions{})
	took := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("create deployment in %s: %w", ns, err)
	}
	// The served side must really have gone through flinkgate, and the
	// pair that patches must have patched alike.
	if (side == sideFlinkgate || side == sideRead) && !samePatched(got, c.patched) {
		return nil, 0, fmt.Errorf("deployment %s/%s was not stored as flinkgate patches it", got.Namespace, got.Name)
	}
	return got, took, nil
}

// update changes only an annotation of cm, as kubectl annotate does, or
// only a label, as kubectl label does; it returns the stored object.
func (c *apiClient) update(ctx context.Context, side int, cm *corev1.ConfigMap, label bool, value string) (*corev1.ConfigMap, time.Duration, error) {
	cm = cm.DeepCopy()
	m := &cm.Annotations
	if label {
		m = &cm.Labels
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[touched] = value
	t0 := time.Now()
	got, err := c.client.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
	took := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("update deployment %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	stored := got.Annotations[touched]
	if label {
		stored = got.Labels[touched]
	}
	if stored != value || ((side == sideFlinkgate || side == sideRead) && got.Labels["flinkgate.io/deployment-target"] != targetName) {
		return nil, 0, fmt.Errorf("deployment %s/%s was stored without the update or without flinkgate's label", got.Namespace, got.Name)
	}
	return got, took, nil
}

func (c *apiClient) delete(ctx context.Context, side int, name string) (time.Duration, error) {
	ns := c.namespaces[side]
	t0 := time.Now()
	err := c.client.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{})
	took := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("delete deployment %s/%s: %w", ns, name, err)
	}
	return took, nil
}

// cycle creates, updates and deletes one deployment on side, unmeasured.
func (c *apiClient) cycle(ctx context.Context, side int, name string) error {
	cm, _, err := c.create(ctx, side, name)
	if err != nil {
		return err
	}
	if cm, _, err = c.update(ctx, side, cm, false, "warm"); err != nil {
		return err
	}
	if _, _, err = c.update(ctx, side, cm, true, "warm"); err != nil {
		return err
	}
	_, err = c.delete(ctx, side, name)
	return err
}

// throughAPIServer creates, updates (an annotation, then a label) and deletes deployment
// ConfigMaps one at a time in three namespaces: one no webhook selects, one
// whose two webhooks (the chart's registration) are the bare server, which
// does nothing, and one served by flinkgate. All three see the same API
// server, etcd and machine load; the bare side shows what two webhook calls
// cost before any work.
//
// Each round creates o.apiCreates deployments per side, then updates them,
// then deletes them; the sides alternate in blocks of o.apiBlock operations,
// in an order that rotates from block to block, and the API server's and
// flinkgate's metrics are scraped between blocks: the API server's request
// and admission histograms carry no namespace, so only blocks tell the
// sides' phases apart.
func throughAPIServer(ctx context.Context, e *env, o *options, bare *http.Client) (*apiResult, error) {
	c := e.cluster
	if err := c.RegisterWebhooks(ctx, e.flinkgate.WebhookURL(), e.flinkgate.CABundle(), []string{servedNS}); err != nil {
		return nil, err
	}
	if err := c.CreateWebhooksNamed(ctx, "loadbench-bare", e.bareURL, e.flinkgate.CABundle(), []string{bareNS}); err != nil {
		return nil, err
	}
	if err := c.CreateWebhooksNamed(ctx, "loadbench-read", e.bareURL+"/read", e.flinkgate.CABundle(), []string{readNS}); err != nil {
		return nil, err
	}
	cfg := c.RestConfig()
	// A client-side limit would add its own queueing to the latencies.
	cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	api := &apiClient{client: client, namespaces: [sides]string{offNS, bareNS, readNS, servedNS}}
	if api.patched, err = setBarePatch(ctx, api, bare, e.bareURL); err != nil {
		return nil, err
	}
	// The API server loads webhook configurations asynchronously; the bare
	// server never denies, so its count shows when both calls of each
	// operation arrive.
	for _, side := range []int{sideBare, sideRead} {
		if err := pollUntil(ctx, 30*time.Second, "the API server to call the bare server as the chart registers it (twice per create, label update and delete, never for an annotation update)", func() error {
			before, err := bareCounts(ctx, bare, e.bareURL)
			if err != nil {
				return err
			}
			if err := api.cycle(ctx, side, "bench-probe-"+strconv.FormatInt(time.Now().UnixNano()%1e9, 10)); err != nil {
				return err
			}
			after, err := bareCounts(ctx, bare, e.bareURL)
			if err != nil {
				return err
			}
			if want := webhookCalls[opCreate] + webhookCalls[opAnnotate] + webhookCalls[opLabel] + webhookCalls[opDelete]; after.answered-before.answered != want {
				return fmt.Errorf("a create, annotation update, label update and delete reached the bare server (%s) %d times, want %d", sideNames[side], after.answered-before.answered, want)
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	// Warm every path (connections, the webhook client) before measuring.
	for i := range 20 {
		for side := range sides {
			if err := api.cycle(ctx, side, fmt.Sprintf("bench-warm-%d", i)); err != nil {
				return nil, err
			}
		}
	}

	res := &apiResult{perRound: o.apiCreates, block: min(o.apiBlock, o.apiCreates), rounds: o.rounds}
	var lat [ops][sides][]time.Duration
	var elapsed [ops][sides]time.Duration
	scrape := func() (timings, error) {
		t0 := time.Now()
		defer func() { res.scrapes, res.scraping = res.scrapes+1, res.scraping+time.Since(t0) }()
		return scrapeTimings(ctx, client, e.flinkgate.MetricsURL()+"/metrics")
	}
	// Every process on the two cores, so that a side's cost shows wherever
	// it lands (the API server applying a patch, etcd storing a larger
	// object, flinkgate's watches) and the client is seen not to be the limit.
	pids := c.PIDs()
	pids["bare webhook server"] = e.bare.Process.Pid
	pids["loadbench (the client)"] = os.Getpid()
	last, err := scrape()
	if err != nil {
		return nil, err
	}
	// block runs f on deployments from..to-1 of one side, then attributes
	// what the metrics moved to that side and operation, after checking
	// that each operation reached the side's webhooks twice.
	block := func(op, side, from, to int, f func(i int) (time.Duration, error)) error {
		var bareBefore counts
		if side == sideBare || side == sideRead {
			n, err := bareCounts(ctx, bare, e.bareURL)
			if err != nil {
				return err
			}
			bareBefore = n
		}
		cpu0 := processCPU(pids)
		t0 := time.Now()
		for i := from; i < to; i++ {
			d, err := f(i)
			if err != nil {
				return err
			}
			lat[op][side] = append(lat[op][side], d)
		}
		elapsed[op][side] += time.Since(t0)
		cpu := cpuMoved(cpu0, processCPU(pids), to-from)
		now, err := scrape()
		if err != nil {
			return err
		}
		moved := now.sub(last).add(cpu)
		res.phases[op][side] = res.phases[op][side].add(moved)
		last = now
		want := webhookCalls[op] * (to - from)
		switch side {
		case sideBare, sideRead:
			after, err := bareCounts(ctx, bare, e.bareURL)
			if err != nil {
				return err
			}
			if after.answered-bareBefore.answered != want {
				return fmt.Errorf("%d deployment %ss reached the bare server %d times, want %d", to-from, strings.ToLower(admissionOps[op]), after.answered-bareBefore.answered, want)
			}
			// The reading pair reads once per create, like flinkgate's
			// validating call of a new reference; the bare pair never.
			wantReads := 0
			if side == sideRead && op == opCreate {
				wantReads = to - from
			}
			if after.reads-bareBefore.reads != wantReads {
				return fmt.Errorf("%d deployment %ss made the bare server (%s) read %d times, want %d", to-from, strings.ToLower(admissionOps[op]), sideNames[side], after.reads-bareBefore.reads, wantReads)
			}
		case sideFlinkgate:
			if got := moved.flinkgateCalls(admissionOps[op]); got != want {
				return fmt.Errorf("%d deployment %ss reached flinkgate %d times, want %d", to-from, strings.ToLower(admissionOps[op]), got, want)
			}
			// flinkgate must read each new reference's target live, as the
			// pair + patch + GET does (other reads, such as the protection
			// controller's, may come on top).
			if got := moved.count("apiserver_request_duration_seconds", "GET configmaps"); op == opCreate && got < to-from {
				return fmt.Errorf("%d deployment creates made %d GETs of a ConfigMap, want at least one each: flinkgate no longer reads the target live", to-from, got)
			}
		}
		return nil
	}
	for r := range o.rounds {
		var stored [sides][]*corev1.ConfigMap
		name := func(side, i int) string { return fmt.Sprintf("bench-%d-%d-%d", r, side, i) }
		do := [ops]func(side, i int) (time.Duration, error){
			opCreate: func(side, i int) (time.Duration, error) {
				cm, d, err := api.create(ctx, side, name(side, i))
				stored[side] = append(stored[side], cm)
				return d, err
			},
			opAnnotate: func(side, i int) (time.Duration, error) {
				cm, d, err := api.update(ctx, side, stored[side][i], false, strconv.Itoa(r))
				stored[side][i] = cm
				return d, err
			},
			opLabel: func(side, i int) (time.Duration, error) {
				cm, d, err := api.update(ctx, side, stored[side][i], true, strconv.Itoa(r))
				stored[side][i] = cm
				return d, err
			},
			opDelete: func(side, i int) (time.Duration, error) {
				return api.delete(ctx, side, name(side, i))
			},
		}
		for op := range ops {
			for j, from := 0, 0; from < o.apiCreates; j, from = j+1, from+res.block {
				to := min(from+res.block, o.apiCreates)
				// Rotate which side goes first, so none always follows another.
				for k := range sides {
					side := (r + j + k) % sides
					if err := block(op, side, from, to, func(i int) (time.Duration, error) { return do[op](side, i) }); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	for op := range ops {
		for side := range sides {
			res.lat[op][side] = newStats(lat[op][side], elapsed[op][side])
		}
	}
	return res, nil
}

// setBarePatch gives the pair + patch + GET a patch that stores what
// flinkgate stores: it asks flinkgate with a dry-run create, and answers
// with the data, labels and annotations flinkgate returned, each map whole
// (a JSON patch "add" replaces a member that exists). That is a few label
// bytes more than flinkgate's own patch, which adds its one label; every
// create of both sides is then checked to store the same (samePatched).
func setBarePatch(ctx context.Context, api *apiClient, client *http.Client, url string) (*corev1.ConfigMap, error) {
	var got *corev1.ConfigMap
	// The API server loads webhook configurations asynchronously.
	if err := pollUntil(ctx, 30*time.Second, "flinkgate to patch a dry-run deployment create", func() error {
		var err error
		got, err = api.client.CoreV1().ConfigMaps(servedNS).Create(ctx, deploymentConfigMap(servedNS, "bench-patch-probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if got.Labels["flinkgate.io/deployment-target"] != targetName {
			return errors.New("the dry-run create came back without flinkgate's label")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	b, err := json.Marshal([]map[string]any{
		{"op": "add", "path": "/data", "value": got.Data},
		{"op": "add", "path": "/metadata/labels", "value": got.Labels},
		{"op": "add", "path": "/metadata/annotations", "value": got.Annotations},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal the patch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url+"/read/patch", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("give the bare server flinkgate's patch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("give the bare server flinkgate's patch: %s: %s", resp.Status, msg)
	}
	return got, nil
}

// counts are what the bare server has answered and read so far.
type counts struct{ answered, reads int }

// bareCounts asks the bare server how many reviews it has answered and how
// many live reads it made.
func bareCounts(ctx context.Context, client *http.Client, url string) (counts, error) {
	answered, err := bareCount(ctx, client, url+"/count")
	if err != nil {
		return counts{}, err
	}
	reads, err := bareCount(ctx, client, url+"/reads")
	if err != nil {
		return counts{}, err
	}
	return counts{answered, reads}, nil
}

// bareCount asks the bare server for one of its counts.
func bareCount(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask the bare server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("read the bare server's count: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}
