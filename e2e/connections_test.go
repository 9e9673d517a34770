//go:build e2e

package e2e

import (
	"crypto/tls"
	"net"
	"strings"
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
