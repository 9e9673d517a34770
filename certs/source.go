package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Source keeps the webhook port's serving certificate current: the listener
// takes its TLS configuration, /readyz its readiness, and Run keeps it
// current until ctx ends. FileSource reads files; selftls.Manager keeps its
// own in a Secret; ClientAuthSource adds the check of callers to either.
type Source interface {
	TLSConfig() *tls.Config
	Ready() error
	Run(ctx context.Context)
}

// pollEvery is how often file sources read their files again.
const pollEvery = 2 * time.Second

// FileSource serves the certificate files a Reloader polls.
type FileSource struct{ *Reloader }

// NewFileSource loads the pair once (see NewReloader).
func NewFileSource(certFile, keyFile string, log *zap.Logger, reg prometheus.Registerer) (FileSource, error) {
	r, err := NewReloader(certFile, keyFile, log, reg)
	if err != nil {
		return FileSource{}, err
	}
	return FileSource{r}, nil
}

// Run polls the files until ctx ends.
func (f FileSource) Run(ctx context.Context) { f.Reloader.Run(ctx, pollEvery) }

// ClientAuthSource admits only callers with a client certificate the
// configured CA signed, on top of any Source.
type ClientAuthSource struct {
	Source
	// Auth checks callers; the webhook listener asks it again per request
	// (ClientAuth.Recheck says why).
	Auth *ClientAuth
}

// WithClientAuth decorates src with the check of callers against the CAs in
// file and, when given, the allowed names.
func WithClientAuth(src Source, file string, names []string, log *zap.Logger, reg prometheus.Registerer) (ClientAuthSource, error) {
	a, err := NewClientAuth(file, names, log, reg)
	if err != nil {
		return ClientAuthSource{}, err
	}
	return ClientAuthSource{Source: src, Auth: a}, nil
}

// TLSConfig is the source's, asking callers for their certificates.
func (s ClientAuthSource) TLSConfig() *tls.Config { return s.Auth.Apply(s.Source.TLSConfig()) }

// Ready is not ready while either the certificate or the client CAs are not.
func (s ClientAuthSource) Ready() error { return errors.Join(s.Source.Ready(), s.Auth.Ready()) }

// Run keeps both current until ctx ends.
func (s ClientAuthSource) Run(ctx context.Context) {
	go s.Auth.Run(ctx, pollEvery)
	s.Source.Run(ctx)
}
