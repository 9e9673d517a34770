package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// MaxClientChain bounds the certificates a caller may present: a leaf and a
// few intermediates. Verification cost grows with the chain, and the API
// server presents one or two.
const MaxClientChain = 4

// maxClientCAFile bounds what the client CA file may hold; a bundle of a few
// CAs is a few KiB.
const maxClientCAFile = 1 << 20

// The reason label's values of flinkgate_webhook_client_refusals_total.
const (
	refusedNoCertificate = "no_certificate"
	refusedUntrusted     = "untrusted"
	refusedName          = "name_not_allowed"
	refusedNoCA          = "ca_not_loaded"
)

// ClientAuth admits to the webhook port only callers that present a
// certificate signed by a CA in a file (the API server, given a client
// certificate in its AdmissionConfiguration), and optionally only one of a
// set of names. Any pod can reach the port; without this a forged review
// costs a live read and an access review, which a flood turns into failed
// admissions for everyone. The file is polled and reloaded like the serving
// certificate, and a bad file keeps the previous CAs in service.
type ClientAuth struct {
	file  string
	names []string
	log   *zap.Logger
	now   func() time.Time

	mu      sync.Mutex // serialises Reload
	lastPEM []byte
	cas     atomic.Pointer[clientCAs]
	memoMu  sync.Mutex
	memo    recheckMemo
	loadErr atomic.Pointer[error]

	refusals *prometheus.CounterVec
	refused  map[string]prometheus.Counter
}

// clientCAs are the CAs in service, as a pool for verification and as
// certificates for their validity.
type clientCAs struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
}

// usable says why no caller can be admitted at now, or nil: no CA loaded,
// or none valid (x509 refuses a chain whose root has expired).
func (a *ClientAuth) usable(now time.Time) error {
	cas := a.cas.Load()
	if cas == nil {
		return errNoCA
	}
	if slices.ContainsFunc(cas.certs, func(c *x509.Certificate) bool { return !now.Before(c.NotBefore) && !now.After(c.NotAfter) }) {
		return nil
	}
	return fmt.Errorf("no webhook client CA is valid now (%s), so every caller is refused, the API server too: put a current CA in %s", now.UTC().Format(time.RFC3339), a.file)
}

// NewClientAuth loads file once. A failure is reported by Ready and retried
// on every poll; until a CA loads, every caller is refused.
func NewClientAuth(file string, names []string, log *zap.Logger, reg prometheus.Registerer) (*ClientAuth, error) {
	if file == "" {
		return nil, errors.New("client authentication needs a CA file")
	}
	a := &ClientAuth{file: file, names: slices.Clone(names), log: log, now: time.Now, refused: map[string]prometheus.Counter{}}
	a.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flinkgate_webhook_client_refusals_total",
		Help: "TLS handshakes on the webhook port refused because the caller's client certificate was missing, untrusted or not an allowed name, or no client CA is loaded and valid.",
	}, []string{"reason"})
	for _, r := range []string{refusedNoCertificate, refusedUntrusted, refusedName, refusedNoCA} {
		a.refused[r] = a.refusals.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(a.refusals); err != nil {
			return nil, fmt.Errorf("register client refusal metric: %w", err)
		}
	}
	a.Reload()
	return a, nil
}

// Reload reads the file if it changed.
func (a *ClientAuth) Reload() {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := readBounded(a.file, maxClientCAFile)
	if err != nil {
		a.fail(fmt.Errorf("read client CA file: %w", err))
		return
	}
	if a.cas.Load() != nil && bytes.Equal(b, a.lastPEM) {
		// Back as it was: the outage is over, and the next is logged.
		if a.loadErr.Swap(nil) != nil {
			a.log.Info("webhook client CA file readable again, unchanged")
		}
		return
	}
	cas, subjects, err := parseCAs(b)
	if err != nil {
		a.fail(err)
		return
	}
	a.lastPEM = b
	a.cas.Store(cas)
	a.loadErr.Store(nil)
	a.log.Info("webhook client CA loaded", zap.Strings("subjects", subjects), zap.Strings("allowed_names", a.names))
}

func (a *ClientAuth) fail(err error) {
	prev := a.loadErr.Swap(&err)
	if prev == nil || (*prev).Error() != err.Error() {
		a.log.Error("webhook client CA not loaded", zap.Error(err), zap.Bool("keeping_previous", a.cas.Load() != nil))
	}
}

// parseCAs reads every certificate in a PEM bundle; it must hold at least
// one, and each must be a CA.
func parseCAs(b []byte) (*clientCAs, []string, error) {
	cs, err := ParseCertificates(b)
	if err != nil {
		return nil, nil, fmt.Errorf("parse client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	subjects := make([]string, 0, len(cs))
	for _, c := range cs {
		if !c.IsCA {
			return nil, nil, fmt.Errorf("client CA file: %q is not a CA certificate", c.Subject)
		}
		pool.AddCert(c)
		subjects = append(subjects, c.Subject.String())
	}
	return &clientCAs{pool: pool, certs: cs}, subjects, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// Run polls the file until ctx ends.
func (a *ClientAuth) Run(ctx context.Context, every time.Duration) { poll(ctx, every, a.Reload) }

// Ready reports why no caller can be admitted, or nil.
func (a *ClientAuth) Ready() error {
	if a.cas.Load() != nil {
		return a.usable(a.now())
	}
	if err := a.loadErr.Load(); err != nil {
		return fmt.Errorf("no webhook client CA loaded: %w", *err)
	}
	return errors.New("no webhook client CA loaded")
}

// Apply makes cfg ask every caller for a certificate and refuse the
// handshake unless Verify accepts it. The certificate is requested rather
// than required so that a missing one is counted like any other refusal.
func (a *ClientAuth) Apply(cfg *tls.Config) *tls.Config {
	out := a.require(cfg)
	perCaller := cfg.GetConfigForClient
	out.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		// Without a valid CA the API server is refused too. Refusing
		// before the server presents its certificate (an internal_error
		// alert, not bad_certificate) keeps that apart from the refusal of
		// a caller without a certificate, which `flinkgate probe
		// --expect-client-auth` passes on, and costs no signature.
		if err := a.usable(a.now()); err != nil {
			a.refused[refusedNoCA].Inc()
			return nil, err
		}
		if perCaller == nil {
			return nil, nil
		}
		c, err := perCaller(h)
		if c == nil || err != nil {
			return c, err
		}
		// The configuration chosen for this caller replaces this one, and
		// with it these checks, unless they are put on it too.
		return a.require(c), nil
	}
	return out
}

// require is cfg asking for a certificate and checking it with Verify, in
// full handshakes and resumed ones alike (VerifyConnection runs for both;
// VerifyPeerCertificate would skip resumptions).
func (a *ClientAuth) require(cfg *tls.Config) *tls.Config {
	out := cfg.Clone()
	out.ClientAuth = tls.RequestClientCert
	out.VerifyConnection = func(cs tls.ConnectionState) error { return a.Verify(cs.PeerCertificates) }
	return out
}

var errNoCA = errors.New("no webhook client CA is loaded; see flinkgate's log")

// Verify accepts a chain whose leaf a loaded CA signed for client
// authentication and, when names are set, carries one of them as a DNS name
// or, when no CA on its chain has name constraints, as its CommonName.
func (a *ClientAuth) Verify(chain []*x509.Certificate) error {
	cas, now := a.cas.Load(), a.now()
	reason, err := a.verify(cas, now, chain)
	if err != nil {
		a.refused[reason].Inc()
		return err
	}
	// The connection's first request is rechecked at once; the handshake
	// has just done that work.
	a.remember(cas, chain[0], now)
	return nil
}

// recheckFor is how long a certificate Recheck accepted is taken as still
// accepted without verifying it again, while the same CAs are in service:
// requests on the API server's connections come hundreds a second, and its
// certificate expires on a scale of days.
const recheckFor = time.Second

// maxRecheckMemo bounds the certificates Recheck remembers: one per API
// server (an HA control plane may give each its own), with room to spare.
const maxRecheckMemo = 16

// recheckMemo is when each certificate Recheck accepted under cas, by its
// DER, must be verified again.
type recheckMemo struct {
	cas   *clientCAs
	until map[string]time.Time
}

// Recheck says whether the caller a connection admitted would still be: the
// handshake checks a caller once, and the API server keeps its connections
// open and busy for as long as it runs, so without this a connection admitted
// under a CA since removed from the file (say, because it leaked), or with a
// certificate since expired, would go on being answered. The refusal is not
// counted as a handshake's.
func (a *ClientAuth) Recheck(cs *tls.ConnectionState) error {
	if cs == nil {
		return errors.New("flinkgate accepts only the API server: the request did not come over TLS")
	}
	cas, now := a.cas.Load(), a.now()
	chain := cs.PeerCertificates
	if len(chain) > 0 {
		a.memoMu.Lock()
		until, ok := a.memo.until[string(chain[0].Raw)]
		fresh := ok && a.memo.cas == cas && now.Before(until)
		a.memoMu.Unlock()
		if fresh {
			return nil
		}
	}
	if _, err := a.verify(cas, now, chain); err != nil {
		return err
	}
	a.remember(cas, chain[0], now)
	return nil
}

// remember notes that leaf was accepted under cas at now.
func (a *ClientAuth) remember(cas *clientCAs, leaf *x509.Certificate, now time.Time) {
	a.memoMu.Lock()
	defer a.memoMu.Unlock()
	if a.memo.cas != cas || len(a.memo.until) >= maxRecheckMemo {
		a.memo = recheckMemo{cas: cas, until: make(map[string]time.Time, 1)}
	}
	a.memo.until[string(leaf.Raw)] = now.Add(recheckFor)
}

func (a *ClientAuth) verify(cas *clientCAs, now time.Time, chain []*x509.Certificate) (string, error) {
	if len(chain) == 0 {
		return refusedNoCertificate, errors.New("flinkgate accepts only the API server: present a client certificate signed by the webhook client CA")
	}
	if len(chain) > MaxClientChain {
		return refusedUntrusted, fmt.Errorf("client certificate chain has %d certificates, at most %d are accepted", len(chain), MaxClientChain)
	}
	if cas == nil {
		return refusedNoCA, errNoCA
	}
	leaf := chain[0]
	opts := x509.VerifyOptions{Roots: cas.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(chain) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range chain[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return refusedUntrusted, fmt.Errorf("client certificate %q is not trusted: %w", leaf.Subject, err)
	}
	// x509 has checked the DNS names against every CA's name constraints,
	// but not the common name: a CA constrained to some names must not
	// vouch for another through it.
	if len(a.names) == 0 || slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return slices.Contains(a.names, n) }) ||
		(slices.Contains(a.names, leaf.Subject.CommonName) && slices.ContainsFunc(chains, unconstrained)) {
		return "", nil
	}
	return refusedName, fmt.Errorf("client certificate %q is not one of the allowed names %v (a common name counts only when no CA on its chain has name constraints)", leaf.Subject, a.names)
}

// unconstrained says whether no CA on a verified chain limits the names it
// may sign for.
func unconstrained(chain []*x509.Certificate) bool {
	return !slices.ContainsFunc(chain[1:], func(c *x509.Certificate) bool {
		return len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
			len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0
	})
}
