package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
)

// clientAuthSource admits only callers with a client certificate the
// configured CA signed, on top of either certificate source.
type clientAuthSource struct {
	certSource
	auth *certs.ClientAuth
}

func withClientAuth(src certSource, file string, names []string, log *zap.Logger, reg prometheus.Registerer) (clientAuthSource, error) {
	a, err := certs.NewClientAuth(file, names, log, reg)
	if err != nil {
		return clientAuthSource{}, err
	}
	return clientAuthSource{certSource: src, auth: a}, nil
}

func (s clientAuthSource) TLSConfig() *tls.Config { return s.auth.Apply(s.certSource.TLSConfig()) }

func (s clientAuthSource) Ready() error { return errors.Join(s.certSource.Ready(), s.auth.Ready()) }

func (s clientAuthSource) Run(ctx context.Context) {
	go s.auth.Run(ctx, 2*time.Second)
	s.certSource.Run(ctx)
}

// webhookGuard checks each request's caller again when auth is set
// (certs.ClientAuth.Recheck says why). A refused request gets 403 and its
// connection closed, so that the caller's next one goes through a
// handshake, which the API server's passes.
func webhookGuard(auth *certs.ClientAuth, next http.Handler, log *zap.Logger) http.Handler {
	if auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Recheck(r.TLS); err != nil {
			// At most one a connection: its next caller needs a handshake.
			log.Warn("webhook caller no longer accepted; connection closed", zap.String("remote_addr", r.RemoteAddr), zap.Error(err))
			w.Header().Set("Connection", "close")
			http.Error(w, err.Error()+"; reconnect", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
