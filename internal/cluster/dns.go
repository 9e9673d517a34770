package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The node's cluster DNS: pods resolve Services by name, as they do in any
// cluster (the chart's `helm test` pod dials <service>.<namespace>.svc),
// and there is no registry to pull CoreDNS from. It answers A queries for
// <service>.<namespace>.svc.<clusterDomain> with the Service's ClusterIP,
// from the API server, and nothing else: the node's pods need no outside
// names, so every other name is NXDOMAIN rather than forwarded.
const (
	clusterDomain = "cluster.local"
	// dnsTTL is short: tests delete and re-create Services.
	dnsTTL = 5
	// dnsLookupTimeout bounds one Service look-up; a resolver retries.
	dnsLookupTimeout = 2 * time.Second
	// dnsMaxMessage is the largest query read: a question is far smaller.
	dnsMaxMessage = 512
)

// serviceLookup returns a Service's ClusterIP; found is false when the
// Service does not exist or has no ClusterIP (headless).
type serviceLookup func(ctx context.Context, namespace, name string) (ip net.IP, found bool, err error)

// dnsServer serves one UDP socket until closed.
type dnsServer struct {
	conn   net.PacketConn
	lookup serviceLookup
	wg     sync.WaitGroup
}

// startDNS listens on ip:53 (resolv.conf has no port) and answers from the
// API server.
func startDNS(ip net.IP, client kubernetes.Interface) (*dnsServer, error) {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "53"))
	if err != nil {
		return nil, fmt.Errorf("listen for the node's cluster DNS on %s:53: %w", ip, err)
	}
	s := &dnsServer{conn: conn, lookup: func(ctx context.Context, namespace, name string) (net.IP, bool, error) {
		svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		ip := net.ParseIP(svc.Spec.ClusterIP).To4()
		return ip, ip != nil, nil
	}}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *dnsServer) serve() {
	buf := make([]byte, dnsMaxMessage)
	for {
		n, addr, err := s.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), dnsLookupTimeout)
		reply, ok := answerDNS(ctx, buf[:n], s.lookup)
		cancel()
		if ok {
			_, _ = s.conn.WriteTo(reply, addr)
		}
	}
}

// close stops the server and waits for it.
func (s *dnsServer) close() {
	_ = s.conn.Close()
	s.wg.Wait()
}

// answerDNS answers one query; ok is false for a message that is not a
// query, which gets no reply.
func answerDNS(ctx context.Context, query []byte, lookup serviceLookup) (reply []byte, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	respond := func(rcode dnsmessage.RCode, questions []dnsmessage.Question, answer net.IP) ([]byte, bool) {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: rcode})
		b.EnableCompression()
		_ = b.StartQuestions()
		for _, q := range questions {
			_ = b.Question(q)
		}
		if answer != nil {
			_ = b.StartAnswers()
			var a dnsmessage.AResource
			copy(a.A[:], answer.To4())
			_ = b.AResource(dnsmessage.ResourceHeader{Name: questions[0].Name, Class: dnsmessage.ClassINET, TTL: dnsTTL}, a)
		}
		out, err := b.Finish()
		return out, err == nil
	}
	if err != nil || h.OpCode != 0 {
		return respond(dnsmessage.RCodeFormatError, nil, nil)
	}
	questions := []dnsmessage.Question{q}
	namespace, service, inCluster := serviceName(q.Name.String())
	if !inCluster || q.Class != dnsmessage.ClassINET {
		return respond(dnsmessage.RCodeNameError, questions, nil)
	}
	ip, found, err := lookup(ctx, namespace, service)
	switch {
	case err != nil:
		return respond(dnsmessage.RCodeServerFailure, questions, nil)
	case !found:
		return respond(dnsmessage.RCodeNameError, questions, nil)
	case q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL:
		return respond(dnsmessage.RCodeSuccess, questions, ip)
	default:
		// The name exists, with no record of this type (AAAA): an empty
		// answer, so that a resolver asking both keeps the A record.
		return respond(dnsmessage.RCodeSuccess, questions, nil)
	}
}

// serviceName splits <service>.<namespace>.svc.<clusterDomain>. (any case).
func serviceName(fqdn string) (namespace, service string, ok bool) {
	rest, ok := strings.CutSuffix(strings.ToLower(fqdn), ".svc."+clusterDomain+".")
	if !ok {
		return "", "", false
	}
	service, namespace, ok = strings.Cut(rest, ".")
	if !ok || service == "" || namespace == "" || strings.Contains(namespace, ".") {
		return "", "", false
	}
	return namespace, service, true
}
