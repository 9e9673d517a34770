package certs

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Served is the serving certificate in service: what each TLS handshake
// gets, when it expires (also as a gauge), and why there is none yet. The
// Reloader (files) and selftls (a Secret) each keep one; only where the
// certificate comes from differs.
type Served struct {
	mu              sync.RWMutex
	cert            *tls.Certificate
	certPEM, keyPEM []byte
	lastErr         error

	expiry prometheus.Gauge
}

// NewServed starts with no certificate in service, for the reason why.
func NewServed(why error) *Served {
	return &Served{
		lastErr: why,
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flinkgate_tls_certificate_expiry_timestamp_seconds",
			Help: "When the serving certificate expires, as a Unix timestamp.",
		}),
	}
}

// Expiry is the gauge of when the certificate in service expires, for the
// owner to register.
func (s *Served) Expiry() prometheus.Collector { return s.expiry }

// Same says whether the PEM pair is the one in service, so an unchanged
// source is not parsed again.
func (s *Served) Same(certPEM, keyPEM []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return bytes.Equal(certPEM, s.certPEM) && bytes.Equal(keyPEM, s.keyPEM)
}

// Serve puts a certificate, its Leaf parsed, in service from the next
// handshake on.
func (s *Served) Serve(cert *tls.Certificate, certPEM, keyPEM []byte) {
	s.mu.Lock()
	s.cert, s.certPEM, s.keyPEM, s.lastErr = cert, certPEM, keyPEM, nil
	s.mu.Unlock()
	s.expiry.Set(float64(cert.Leaf.NotAfter.Unix()))
}

// Fail records why a certificate could not be loaded; a certificate in
// service stays. It says whether the reason differs from the last one.
func (s *Served) Fail(err error) (changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed = s.lastErr == nil || s.lastErr.Error() != err.Error()
	s.lastErr = err
	return changed
}

// GetCertificate is for tls.Config: each handshake takes the newest
// certificate, so a rotation needs no restart and drops no connection.
func (s *Served) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cert == nil {
		return nil, fmt.Errorf("no serving certificate loaded: %w", s.lastErr)
	}
	return s.cert, nil
}

// Check reports why no valid certificate is in service at now, or nil.
func (s *Served) Check(now time.Time) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.cert == nil:
		return fmt.Errorf("no serving certificate loaded: %w", s.lastErr)
	case !now.Before(s.cert.Leaf.NotAfter):
		return fmt.Errorf("the serving certificate expired at %s", s.cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// TLSConfig is the webhook listener's configuration.
func (s *Served) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}
