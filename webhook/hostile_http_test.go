package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"flinkgate.io/flinkgate/internal/resource"
	"flinkgate.io/flinkgate/rbac"
)

// rawRequest is one HTTP/1.1 request written by hand, so that a test can
// pipeline requests and send what a well-behaved client would not.
type rawRequest struct {
	target string // path and query
	header string // extra header lines, each ending in \r\n
	body   []byte
	// chunks sends the body chunked, in pieces of this size (0: with a
	// Content-Length); badChunk ends the chunked body with a malformed
	// chunk, so that reading the body fails halfway.
	chunks   int
	badChunk bool
}

func (q rawRequest) bytes() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: flinkgate\r\nContent-Type: application/json\r\n%s", q.target, q.header)
	if q.chunks == 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(q.body))
		b.Write(q.body)
		return b.Bytes()
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	for rest := q.body; len(rest) > 0; {
		n := min(q.chunks, len(rest))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	if q.badChunk {
		b.WriteString("zz\r\nnot a chunk\r\n")
		return b.Bytes()
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

// TestPipelinedReviewsOnOneConnectionGetTheirOwnAnswers writes every
// request of a case at once on one kept-alive connection (HTTP/1.1
// pipelining: each next request is already waiting while the handler of the
// one before runs and writes its answer over the connection's buffer), and
// checks that each answer, in order, is the one its review gets alone.
func TestPipelinedReviewsOnOneConnectionGetTheirOwnAnswers(t *testing.T) {
	lookup := benchLookup()
	s, srv := connServer(t, lookup)

	dep := configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment)
	large := appliedReview(t, admissionv1.Update)
	create := review(admissionv1.Create, nil, dep)
	target := review(admissionv1.Create, nil, configMap("prod", resource.KindTarget, seedTarget))
	deny := review(admissionv1.Create, nil, configMap("x", "Other", yamlDeployment))
	del := review(admissionv1.Delete, dep, nil)
	// A review whose uid differs only in its last bytes: a stale byte of
	// the buffer would show in the answer's uid.
	otherUID := bytes.Replace(create, []byte("444455556666"), []byte("44445555ffff"), 1)
	overKept := []byte(strings.Repeat(" ", maxConnBuffer+1) + string(create))

	alone := func(body []byte) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.Handler().ServeHTTP(rec, req)
		return fmt.Sprint(rec.Code, " ", rec.Body.String())
	}
	m := func(body []byte) rawRequest { return rawRequest{target: "/mutate", body: body} }

	cases := []struct {
		name string
		reqs []rawRequest
		// wantClosed: the last request breaks the connection, so only the
		// answers before it are checked and the connection must then end.
		wantClosed bool
	}{
		{name: "Pipelined reviews of every size and outcome, large before small, each get their own answer.",
			reqs: []rawRequest{m(large), m(create), m([]byte("not json")), m(target), m(deny), m(del), m(otherUID), m(create), m(large), m(otherUID)}},
		{name: "A review over what a connection keeps, between small ones, leaves no bytes in their answers.",
			reqs: []rawRequest{m(create), m(overKept), m(otherUID), m(large), m(create)}},
		{name: "Reviews sent with Expect: 100-continue, pipelined, get their own answers.",
			reqs: []rawRequest{{target: "/mutate", header: "Expect: 100-continue\r\n", body: large}, {target: "/mutate", header: "Expect: 100-continue\r\n", body: create}, m(otherUID)}},
		{name: "Chunked reviews, in pieces that split words and strings, get their own answers.",
			reqs: []rawRequest{{target: "/mutate", body: large, chunks: 7}, {target: "/mutate", body: create, chunks: 4093}, {target: "/mutate", body: otherUID, chunks: 1}}},
		{name: "Reviews with a timeout parameter, repeated (the first counts, as with url.Query) or unreadable, get their own answers.",
			reqs: []rawRequest{{target: "/mutate?timeout=10s", body: large}, {target: "/mutate?timeout=10s&timeout=1ns", body: create}, {target: "/mutate?timeout=bogus", body: otherUID}}},
		{name: "A review whose chunked body breaks halfway ends the connection after the answers before it.",
			reqs: []rawRequest{m(large), m(create), {target: "/mutate", body: otherUID[:len(otherUID)/2], chunks: 100, badChunk: true}}, wantClosed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			var all bytes.Buffer
			for _, q := range tc.reqs {
				all.Write(q.bytes())
			}
			go func() { _, _ = conn.Write(all.Bytes()) }()
			br := bufio.NewReader(conn)
			checked := tc.reqs
			if tc.wantClosed {
				checked = checked[:len(checked)-1]
			}
			for i, q := range checked {
				resp := readFinalResponse(t, br)
				out, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				want := alone(q.body)
				if got := fmt.Sprint(resp.StatusCode, " ", string(out)); got != want {
					t.Errorf("request %d answered\n%s\nalone\n%s", i, got, want)
				}
			}
			if tc.wantClosed {
				// The broken request gets a 400 or nothing; then the
				// connection must end rather than read on.
				for {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						break
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						t.Errorf("the review whose body broke halfway was answered 200")
					}
				}
			}
		})
	}
}

// readFinalResponse reads the next response, skipping 100 Continue.
func readFinalResponse(t *testing.T, br *bufio.Reader) *http.Response {
	t.Helper()
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		if resp.StatusCode != http.StatusContinue {
			return resp
		}
	}
}

// TestClosedTLSConnectionsGiveBackWhatTheyKept serves reviews over real
// TLS connections, as flinkgate serve does: net/http must hand ConnState
// the very connection ConnContext got, so that what each connection kept is
// given back when it closes (a key that did not match would keep it
// counted for ever, and the bound would soon refuse every buffer).
func TestClosedTLSConnectionsGiveBackWhatTheyKept(t *testing.T) {
	s, _ := newTestServer(t, benchLookup(), nil, rbac.ModeOff)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.ConnContext = s.ConnContext
	srv.Config.ConnState = s.ConnState
	srv.StartTLS()
	before := s.conns.kept.Load()
	body := review(admissionv1.Create, nil, configMap("top-speed-windowing", resource.KindDeployment, yamlDeployment))
	const conns = 4
	clients := make([]*http.Client, conns)
	for i := range clients {
		tr := srv.Client().Transport.(*http.Transport).Clone()
		clients[i] = &http.Client{Transport: tr}
		for range 2 {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/mutate", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := clients[i].Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("answered %d", resp.StatusCode)
			}
		}
	}
	if got := s.conns.kept.Load() - before; got < conns*int64(len(body)) {
		t.Fatalf("%d open connections keep %d bytes together, want at least %d: the test must see them keep their buffers", conns, got, conns*len(body))
	}
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	srv.Close()
	// The server's ConnState runs as each connection's goroutine ends,
	// which srv.Close does not wait for.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); s.conns.kept.Load() > before; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("after every connection closed, %d bytes are still counted as kept", s.conns.kept.Load()-before)
		}
	}
}
