package cluster

import (
	"context"
	"errors"
	"net"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestAnswerDNS(t *testing.T) {
	services := map[string]net.IP{"flink-platform/flinkgate": net.IPv4(10, 96, 0, 42)}
	lookup := func(_ context.Context, namespace, name string) (net.IP, bool, error) {
		if namespace == "broken" {
			return nil, false, errors.New("the API server is down")
		}
		ip, ok := services[namespace+"/"+name]
		return ip, ok, nil
	}
	tests := []struct {
		name      string
		qname     string
		qtype     dnsmessage.Type
		wantRCode dnsmessage.RCode
		wantA     string // empty: no answer
	}{
		{
			name:  "A Service's full name resolves to its ClusterIP.",
			qname: "flinkgate.flink-platform.svc.cluster.local.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeSuccess, wantA: "10.96.0.42",
		},
		{
			name:  "The name is matched without regard to case.",
			qname: "FlinkGate.Flink-Platform.SVC.cluster.local.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeSuccess, wantA: "10.96.0.42",
		},
		{
			name:  "An AAAA query for a Service is answered empty, not as a missing name.",
			qname: "flinkgate.flink-platform.svc.cluster.local.", qtype: dnsmessage.TypeAAAA,
			wantRCode: dnsmessage.RCodeSuccess,
		},
		{
			name:  "A Service that does not exist is a missing name.",
			qname: "other.flink-platform.svc.cluster.local.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeNameError,
		},
		{
			name:  "A search-domain candidate with too many labels is a missing name.",
			qname: "flinkgate.flink-platform.svc.flink-platform.svc.cluster.local.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeNameError,
		},
		{
			name:  "A name outside the cluster domain is a missing name, not forwarded.",
			qname: "example.com.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeNameError,
		},
		{
			name:  "A failed look-up is a server failure, which resolvers retry.",
			qname: "flinkgate.broken.svc.cluster.local.", qtype: dnsmessage.TypeA,
			wantRCode: dnsmessage.RCodeServerFailure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
			_ = b.StartQuestions()
			if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(tt.qname), Type: tt.qtype, Class: dnsmessage.ClassINET}); err != nil {
				t.Fatal(err)
			}
			query, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			reply, ok := answerDNS(t.Context(), query, lookup)
			if !ok {
				t.Fatal("no reply to a query")
			}
			var m dnsmessage.Message
			if err := m.Unpack(reply); err != nil {
				t.Fatalf("unpack reply: %v", err)
			}
			if m.ID != 7 || !m.Response || len(m.Questions) != 1 {
				t.Errorf("reply header id=%d response=%v questions=%d, want the query's id, a response and its question", m.ID, m.Response, len(m.Questions))
			}
			if m.RCode != tt.wantRCode {
				t.Errorf("rcode %v, want %v", m.RCode, tt.wantRCode)
			}
			var got string
			for _, a := range m.Answers {
				if r, ok := a.Body.(*dnsmessage.AResource); ok {
					got = net.IP(r.A[:]).String()
				}
			}
			if got != tt.wantA || len(m.Answers) > 1 {
				t.Errorf("answers %v, want A %q", m.Answers, tt.wantA)
			}
		})
	}
}

func TestAnswerDNSIgnoresResponses(t *testing.T) {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := answerDNS(t.Context(), msg, nil); ok {
		t.Error("a response was answered; replying to replies can loop between two servers")
	}
}
