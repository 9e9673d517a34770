// Package certs is the webhook port's TLS: it serves the certificate,
// reloading it when its files change, optionally admits only callers with a
// client certificate a given CA signed, and generates certificates for local
// runs and tests.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
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

	served *Served
}

// NewReloader loads the certificate once; a failure is reported by Ready and
// retried on every poll, so the process can start before its Secret exists.
func NewReloader(certFile, keyFile string, log *zap.Logger, reg prometheus.Registerer) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now, served: NewServed(nil)}
	if reg != nil {
		if err := reg.Register(r.served.Expiry()); err != nil {
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
	if r.served.Same(certPEM, keyPEM) {
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
	r.served.Serve(&cert, certPEM, keyPEM)
	r.log.Info("serving certificate loaded", zap.String("subject", leaf.Subject.String()), zap.Strings("dns_names", leaf.DNSNames), zap.Time("not_after", leaf.NotAfter))
}

func (r *Reloader) fail(err error) {
	if r.served.Fail(err) {
		r.log.Error("serving certificate not loaded", zap.Error(err))
	}
}

// Run polls the files until ctx ends.
func (r *Reloader) Run(ctx context.Context, every time.Duration) { poll(ctx, every, r.Reload) }

// poll calls reload every period until ctx ends.
func poll(ctx context.Context, every time.Duration, reload func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			reload()
		}
	}
}

// GetCertificate is for tls.Config: each handshake takes the newest
// certificate, so a rotation needs no restart and drops no connection.
func (r *Reloader) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.served.GetCertificate(h)
}

// Ready reports why the webhook cannot serve TLS, or nil.
func (r *Reloader) Ready() error { return r.served.Check(r.now()) }

// TLSConfig is the webhook listener's configuration.
func (r *Reloader) TLSConfig() *tls.Config { return r.served.TLSConfig() }
