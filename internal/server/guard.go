package server

import (
	"net/http"

	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
)

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
