//go:build e2e

package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stalledConns is how many connections the attack opens: each finishes its
// TLS handshake and then sends nothing, which costs a flinkgate without
// bounds about 41 KiB until its header timeout (10 s), 160 MiB in all.
const stalledConns = 4000

// TestStalledConnectionsDoNotExhaustFlinkgatesMemory opens stalledConns
// connections to flinkgate's webhook port that complete a handshake and
// never send a request, as any pod can, then creates a deployment through
// the API server. flinkgate keeps at most 1,024 such connections (closing
// the oldest), so its memory stays bounded and the API server, whose new
// connection sends its request at once, is answered.
func TestStalledConnectionsDoNotExhaustFlinkgatesMemory(t *testing.T) {
	loadTestOnNewestOnly(t)
	s := ownFlinkgate(t, "stalled")
	target := s.seedTarget(t)
	host := strings.TrimPrefix(s.fg.WebhookURL(), "https://")
	before := peakRSS(t, s.fg.Pid())
	done := make(chan struct{})
	conns := make(chan net.Conn, stalledConns)
	go func() {
		defer close(done)
		for range stalledConns {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			conns <- c
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // the attacker trusts anything
			_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
			go func() { _ = tc.Handshake() }()
		}
	}()
	t.Cleanup(func() {
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	<-done
	job := name("job")
	s.apply(t, s.exampleDeployment(t, job, target))
	if got := s.get(t, job).Metadata.Labels["flinkgate.io/deployment-target"]; got != target {
		t.Fatalf("the deployment created during the attack was not patched by flinkgate: label %q", got)
	}
	after := peakRSS(t, s.fg.Pid())
	t.Logf("%d stalled connections: flinkgate's peak RSS %d MiB -> %d MiB", stalledConns, before>>20, after>>20)
	if grew := after - before; grew > 112<<20 {
		t.Errorf("flinkgate's peak RSS grew by %d MiB with %d stalled connections; the connection bounds should keep it under 112 MiB (without them it grew by 163 MiB)", grew>>20, stalledConns)
	}
}

// provenConns is how many connections the proven-idle flood opens: each
// sends one request, reads its answer and then idles, as any pod can when
// client certificates are off. More than --max-webhook-connections (2,048),
// so the bound decides how many flinkgate keeps (until IdleTimeout, 90 s).
const provenConns = 4000

// TestProvenIdleFloodMemoryIsBounded opens provenConns connections that
// each send one request and then idle: kept connections are never closed
// for new ones, so this is memory an attacker holds for as long as it sends
// a request on each within IdleTimeout. With the bound at 4,096, requests in
// full TLS records took flinkgate's peak RSS from 31 to 263 MiB, past the
// chart's 256 MiB limit.
func TestProvenIdleFloodMemoryIsBounded(t *testing.T) {
	loadTestOnNewestOnly(t)
	for _, tc := range []struct{ name, pad string }{
		{"connections that each sent one small request and idle cost flinkgate a bounded memory", ""},
		// crypto/tls keeps a buffer as large as the largest record a
		// connection sent.
		{"connections that each sent one request in a full TLS record and idle cost flinkgate a bounded memory", "X-Pad: " + strings.Repeat("a", 15<<10) + "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { provenIdleFlood(t, tc.pad) })
	}
}

func provenIdleFlood(t *testing.T, pad string) {
	s := ownFlinkgate(t, "provenidle")
	host := strings.TrimPrefix(s.fg.WebhookURL(), "https://")
	before := peakRSS(t, s.fg.Pid())
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var answered atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{}, provenConns)
	for range provenConns {
		next <- struct{}{}
	}
	close(next)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true}) // the attacker trusts anything
				if err != nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: flinkgate\r\n"+pad+"\r\n"); err != nil {
					continue
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if !resp.Close {
					answered.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	after := peakRSS(t, s.fg.Pid())
	n := answered.Load()
	if n < 1500 {
		t.Fatalf("only %d of %d connections were answered and kept alive; the flood should fill most of the bound of 2,048", n, provenConns)
	}
	t.Logf("%d proven idle connections kept: flinkgate's peak RSS %d MiB -> %d MiB, %d KiB a connection", n, before>>20, after>>20, (after-before)/n>>10)
	// The chart's limit is 256 MiB; up to 32 MiB more are review buffers
	// connections keep (webhook.maxKeptBytes), and admissions need room.
	if after > 192<<20 {
		t.Errorf("flinkgate's peak RSS reached %d MiB with %d proven idle connections; the connection bound should keep it under 192 MiB", after>>20, n)
	}
}
