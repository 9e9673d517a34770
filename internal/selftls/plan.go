// Package selftls keeps flinkgate's own CA and serving certificate in a Secret
// (tls.mode: self): it creates them, serves them, injects the CA into
// flinkgate's webhook configurations and rotates both before they expire,
// without a moment in which the API server distrusts the certificate served.
package selftls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"flinkgate.io/flinkgate/certs"
)

// Rotation requests a user writes into the Secret's RotateAnnotation.
const (
	RotateCA      = "ca"
	RotateServing = "serving"
)

// clockSkew backdates new certificates, so an API server whose clock is a
// little behind does not see them as not yet valid.
const clockSkew = 5 * time.Minute

// policy decides, from the Secret's state alone, what the Secret should hold
// next. It is a pure function of (state, now, injected): every replica
// computes the same step, and the Secret's resourceVersion lets one win.
type policy struct {
	hosts        []string
	caValidity   time.Duration
	certValidity time.Duration
	// overlap is how long a new trust bundle or signer must have been
	// published before the next step relies on it: long enough for the API
	// server to see a changed caBundle and for every replica to reload.
	overlap time.Duration
}

// state is what the Secret holds, parsed.
type state struct {
	bundle          []*x509.Certificate // the trusted CAs, injected as caBundle
	signer          *certs.CA           // signs serving certificates; in bundle
	next            *certs.CA           // during a CA rotation: trusted, not yet signing
	certPEM, keyPEM []byte
	cert            *x509.Certificate
	bundleChangedAt time.Time
	signerChangedAt time.Time
	rotate          string // a user's rotation request, cleared when acted on
}

// step returns the state after every transition that is due at now, and
// what changed (empty: the Secret stays as it is). injected says whether the
// webhook configurations carry s's bundle right now.
func (p policy) step(s state, now time.Time, injected bool) (state, []string, error) {
	var changes []string
	if s.signer == nil {
		// First start, or a Secret someone broke: a new CA. CAs of the old
		// bundle stay trusted, so replicas still serving an old certificate
		// keep working until they reload.
		ca, err := certs.NewCAAt("flinkgate-ca", now.Add(-clockSkew), p.caValidity)
		if err != nil {
			return s, nil, err
		}
		s.bundle = append([]*x509.Certificate{ca.Cert}, unexpired(s.bundle, now)...)
		s.signer, s.next, s.cert = ca, nil, nil
		s.bundleChangedAt, s.signerChangedAt = now, now
		changes = append(changes, "created a CA")
	}

	// Lost timestamps restart the waits rather than end them.
	if s.bundleChangedAt.IsZero() || s.signerChangedAt.IsZero() {
		if s.bundleChangedAt.IsZero() {
			s.bundleChangedAt = now
		}
		if s.signerChangedAt.IsZero() {
			s.signerChangedAt = now
		}
		changes = append(changes, "recorded missing rotation timestamps")
	}

	// The bundle always trusts the signer and the next CA.
	for _, ca := range []*certs.CA{s.signer, s.next} {
		if ca != nil && !slices.ContainsFunc(s.bundle, ca.Cert.Equal) {
			s.bundle = append([]*x509.Certificate{ca.Cert}, s.bundle...)
			s.bundleChangedAt = now
			changes = append(changes, "trusted the CA "+ca.Cert.Subject.CommonName+" again")
		}
	}
	if kept := unexpiredOr(s.bundle, now, s.signer, s.next); len(kept) != len(s.bundle) {
		s.bundle = kept
		s.bundleChangedAt = now
		changes = append(changes, "dropped expired CAs from the bundle")
	}

	// CA rotation, phase 1: trust a new CA beside the old one.
	if s.next == nil && (s.rotate == RotateCA || renewDue(s.signer.Cert, now)) {
		ca, err := certs.NewCAAt("flinkgate-ca", now.Add(-clockSkew), p.caValidity)
		if err != nil {
			return s, nil, err
		}
		s.next = ca
		s.bundle = append([]*x509.Certificate{ca.Cert}, s.bundle...)
		s.bundleChangedAt = now
		changes = append(changes, "started a CA rotation: the new CA is trusted beside the old one")
	}
	if s.rotate == RotateCA {
		s.rotate = ""
	}

	// Phase 2: once the API server trusts both, sign with the new CA.
	if s.next != nil && injected && !now.Before(s.bundleChangedAt.Add(p.overlap)) {
		s.signer, s.next, s.cert = s.next, nil, nil
		s.signerChangedAt = now
		changes = append(changes, "the new CA signs from now on")
	}

	// Phase 3: once every replica serves a certificate of the new signer,
	// stop trusting the old CA.
	if s.next == nil && len(s.bundle) > 1 && !now.Before(s.signerChangedAt.Add(p.overlap)) && !now.Before(s.bundleChangedAt.Add(p.overlap)) {
		s.bundle = []*x509.Certificate{s.signer.Cert}
		s.bundleChangedAt = now
		changes = append(changes, "dropped the old CA from the bundle")
	}

	if why := p.reissue(s, now); why != "" {
		crt, key, err := s.signer.Issue(p.hosts, now.Add(-clockSkew), p.certValidity)
		if err != nil {
			return s, nil, err
		}
		cert, err := parseLeaf(crt)
		if err != nil {
			return s, nil, err
		}
		s.certPEM, s.keyPEM, s.cert = crt, key, cert
		changes = append(changes, "issued a serving certificate ("+why+")")
	}
	if s.rotate == RotateServing {
		s.rotate = ""
	}
	if s.rotate != "" {
		changes = append(changes, fmt.Sprintf("ignored the unknown rotation request %q (want %q or %q)", s.rotate, RotateCA, RotateServing))
		s.rotate = ""
	}
	return s, changes, nil
}

// reissue says why the serving certificate must be replaced, or "".
func (p policy) reissue(s state, now time.Time) string {
	switch {
	case s.cert == nil:
		return "none was usable"
	case s.rotate == RotateServing:
		return "rotation requested"
	case s.cert.CheckSignatureFrom(s.signer.Cert) != nil:
		return "not signed by the current CA"
	case !slices.Equal(hostsOf(s.cert), slices.Sorted(slices.Values(p.hosts))):
		return "the hosts changed"
	case renewDue(s.cert, now):
		return "two thirds of its lifetime passed"
	}
	return ""
}

// renewDue says whether two thirds of a certificate's lifetime have passed.
func renewDue(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return !now.Before(c.NotBefore.Add(life / 3 * 2))
}

func unexpired(cs []*x509.Certificate, now time.Time) []*x509.Certificate {
	return unexpiredOr(cs, now)
}

// unexpiredOr keeps the certificates not yet expired, and those of keep.
func unexpiredOr(cs []*x509.Certificate, now time.Time, keep ...*certs.CA) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range cs {
		kept := slices.ContainsFunc(keep, func(ca *certs.CA) bool { return ca != nil && ca.Cert.Equal(c) })
		if kept || now.Before(c.NotAfter) {
			out = append(out, c)
		}
	}
	return out
}

func hostsOf(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	slices.Sort(out)
	return out
}

func parseLeaf(certPEM []byte) (*x509.Certificate, error) {
	cs, err := certs.ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// normalizeHosts checks and sorts the hosts a serving certificate covers.
func normalizeHosts(hosts []string) ([]string, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no hosts for the serving certificate")
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h == "" {
			return nil, errors.New("an empty host for the serving certificate")
		}
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		out = append(out, h)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > maxHosts {
		return nil, fmt.Errorf("%d hosts for the serving certificate; at most %d", len(out), maxHosts)
	}
	return out, nil
}

// maxHosts bounds the serving certificate's SANs (the chart passes 4 or 5).
const maxHosts = 32
