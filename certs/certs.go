// Package certs serves the webhook's TLS certificate, reloading it when its
// files change, and generates certificates for local runs and tests.
package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Reloader holds the current serving certificate. Files are polled rather
// than watched: Kubernetes updates Secret volumes by swapping symlinks, which
// file watches miss unless they follow the directory, and a poll of two small
// files costs nothing.
type Reloader struct {
	certFile, keyFile string
	log               *zap.Logger
	now               func() time.Time

	mu       sync.RWMutex
	cert     *tls.Certificate
	notAfter time.Time
	certPEM  []byte
	keyPEM   []byte
	lastErr  error

	expiry prometheus.Gauge
}

// NewReloader loads the certificate once; a failure is reported by Ready and
// retried on every poll, so the process can start before its Secret exists.
func NewReloader(certFile, keyFile string, log *zap.Logger, reg prometheus.Registerer) (*Reloader, error) {
	r := &Reloader{
		certFile: certFile, keyFile: keyFile, log: log, now: time.Now,
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flinkgate_tls_certificate_expiry_timestamp_seconds",
			Help: "When the serving certificate expires, as a Unix timestamp.",
		}),
	}
	if reg != nil {
		if err := reg.Register(r.expiry); err != nil {
			return nil, fmt.Errorf("register certificate expiry gauge: %w", err)
		}
	}
	r.Reload()
	return r, nil
}

// Reload reads the files if they changed. A bad pair keeps the previous good
// certificate in service.
func (r *Reloader) Reload() {
	certPEM, err1 := os.ReadFile(r.certFile)
	keyPEM, err2 := os.ReadFile(r.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		r.fail(fmt.Errorf("read certificate files: %w", err))
		return
	}
	r.mu.RLock()
	same := bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM)
	r.mu.RUnlock()
	if same {
		return
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		r.fail(fmt.Errorf("parse certificate pair: %w", err))
		return
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		r.fail(fmt.Errorf("parse certificate: %w", err))
		return
	}
	cert.Leaf = leaf
	r.mu.Lock()
	r.cert, r.notAfter, r.certPEM, r.keyPEM, r.lastErr = &cert, leaf.NotAfter, certPEM, keyPEM, nil
	r.mu.Unlock()
	r.expiry.Set(float64(leaf.NotAfter.Unix()))
	r.log.Info("serving certificate loaded", zap.String("subject", leaf.Subject.String()), zap.Strings("dns_names", leaf.DNSNames), zap.Time("not_after", leaf.NotAfter))
}

func (r *Reloader) fail(err error) {
	r.mu.Lock()
	changed := r.lastErr == nil || r.lastErr.Error() != err.Error()
	r.lastErr = err
	r.mu.Unlock()
	if changed {
		r.log.Error("serving certificate not loaded", zap.Error(err))
	}
}

// Run polls the files until ctx ends.
func (r *Reloader) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Reload()
		}
	}
}

// GetCertificate is for tls.Config: each handshake takes the newest
// certificate, so a rotation needs no restart and drops no connection.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.cert == nil {
		return nil, fmt.Errorf("no serving certificate loaded: %w", r.lastErr)
	}
	return r.cert, nil
}

// Ready reports why the webhook cannot serve TLS, or nil.
func (r *Reloader) Ready() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case r.cert == nil:
		return fmt.Errorf("no serving certificate loaded: %w", r.lastErr)
	case !r.now().Before(r.notAfter):
		return fmt.Errorf("the serving certificate expired at %s", r.notAfter.Format(time.RFC3339))
	}
	return nil
}

// TLSConfig is the webhook listener's configuration.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
