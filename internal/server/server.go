// Package server runs the listeners of flinkgate serve: the webhook port
// with its connection bounds and rate-limited error log, the ops port
// (/metrics, /healthz, /readyz), optional profiling, and the ordered
// shutdown that lets a rollout fail no admission.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/metrics"
)

// ShutdownTimeout bounds how long in-flight admissions may finish after the
// drain; the API server gives up on a webhook call after at most 30s, and
// flinkgate's answers take milliseconds.
const ShutdownTimeout = 10 * time.Second

// Config is what the listeners serve.
type Config struct {
	WebhookAddr, MetricsAddr string
	// ProfilingAddr serves net/http/pprof; empty: off.
	ProfilingAddr string
	// MaxConnections bounds the webhook port's connections (at least 16).
	MaxConnections int
	// Drain is how long, once stopped, the listeners keep serving while
	// /readyz says no, so the API server stops picking this replica first.
	Drain time.Duration

	// Certs is the webhook port's certificate. ClientAuth, when set, checks
	// the caller of every request again (Certs then carries it too).
	Certs      certs.Source
	ClientAuth *certs.ClientAuth
	// Webhook answers the admission reviews; ConnContext and ConnState,
	// when set, are its per-connection hooks.
	Webhook     http.Handler
	ConnContext func(context.Context, net.Conn) context.Context
	ConnState   func(net.Conn, http.ConnState)
	// Ready says why this replica should not get admissions yet, or nil;
	// /readyz adds draining and the certificate's readiness.
	Ready func() error

	// Gatherer is served on /metrics; Registerer takes the listeners' own
	// metrics (the connection bounds, readiness).
	Gatherer   prometheus.Gatherer
	Registerer prometheus.Registerer
	Logger     *zap.Logger
	// BeforeClose runs after the drain and before the listeners close,
	// within ShutdownTimeout: the work that still needs this webhook.
	BeforeClose func(context.Context)
}

// Server is flinkgate serve's listeners.
type Server struct {
	cfg      Config
	draining atomic.Bool
	limits   *ConnLimits
	webhook  *http.Server
	others   []*http.Server // ops and profiling
	// listen opens a listener's address; tests take the addresses as names.
	listen func(addr string) (net.Listener, error)
}

// New builds the listeners and registers their metrics; Run serves them.
func New(cfg Config) (*Server, error) {
	limits, err := NewConnLimits(cfg.MaxConnections, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, limits: limits, listen: listenTCP}
	if err := metrics.NewReadiness(cfg.Registerer, s.ready); err != nil {
		return nil, fmt.Errorf("register readiness gauge: %w", err)
	}
	s.webhook = s.webhookServer()
	s.others = []*http.Server{{Addr: cfg.MetricsAddr, Handler: s.opsHandler(), ReadHeaderTimeout: 10 * time.Second}}
	if cfg.ProfilingAddr != "" {
		// Its own listener, so profiles are never exposed where metrics are
		// scraped; no timeouts, since a CPU profile streams for its duration.
		s.others = append(s.others, &http.Server{Addr: cfg.ProfilingAddr, Handler: profilingHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	return s, nil
}

// ready is /readyz's answer.
func (s *Server) ready() error {
	if s.draining.Load() {
		return errors.New("shutting down")
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			return err
		}
	}
	return s.cfg.Certs.Ready()
}

func (s *Server) opsHandler() http.Handler {
	ops := http.NewServeMux()
	ops.Handle("/metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{Registry: s.cfg.Registerer}))
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	ops.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return ops
}

// webhookServer is the webhook port's http.Server.
//
// The API server gives up on a webhook after at most 30s; a client that
// trickles its body must not hold a goroutine and buffer longer.
//
// HTTP/1.1 only: with HTTP/2 each API server multiplexes every call over one
// connection, so behind a Service one replica would get them all; it also
// keeps HTTP/2 rapid-reset floods (CVE-2023-44487) off the port any pod can
// reach. A non-nil empty TLSNextProto turns HTTP/2 off. It also lets a
// draining replica hand each connection off per answer (drainAware).
func (s *Server) webhookServer() *http.Server {
	hook := s.cfg.ConnState
	return &http.Server{
		Addr: s.cfg.WebhookAddr, Handler: webhookGuard(s.cfg.ClientAuth, s.drainAware(s.cfg.Webhook), s.cfg.Logger),
		TLSConfig: s.cfg.Certs.TLSConfig(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 90 * time.Second, ErrorLog: limitedErrorLog(s.cfg.Logger),
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, ConnContext: s.cfg.ConnContext,
		ConnState: func(c net.Conn, st http.ConnState) {
			markActive(c, st)
			if hook != nil {
				hook(c, st)
			}
		},
	}
}

// drainAware closes each answer's connection while draining, so the API
// server's next call dials anew and reaches a replica that stays. Closing
// idle connections from this side instead would race a request the API
// server is already sending (a failed admission).
func (s *Server) drainAware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// profilingHandler serves net/http/pprof on a mux of its own; what the
// package registers on http.DefaultServeMux is never served.
func profilingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Run serves until ctx ends or a listener fails, then shuts down in order:
// unready at once, still serving for the drain (connections are closed
// after each answer, see drainAware), BeforeClose, then the in-flight
// requests finish.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1+len(s.others))
	go func() {
		// As ListenAndServeTLS, but each connection gets a handshake budget.
		ln, err := s.listen(s.cfg.WebhookAddr)
		if err != nil {
			errc <- err
			return
		}
		errc <- s.webhook.ServeTLS(handshakeBudgetListener(ln, s.limits), "", "")
	}()
	for _, srv := range s.others {
		go func() {
			ln, err := s.listen(srv.Addr)
			if err != nil {
				errc <- err
				return
			}
			errc <- srv.Serve(ln)
		}()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("listener stopped: %w", err)
	}
	s.draining.Store(true)
	s.cfg.Logger.Info("shutting down: unready, serving while the endpoints update", zap.Duration("drain", s.cfg.Drain))
	select {
	case <-time.After(s.cfg.Drain):
	case err := <-errc:
		return fmt.Errorf("listener stopped: %w", err)
	}
	return s.shutdown()
}

// listenTCP listens as http.Server.ListenAndServe does.
func listenTCP(addr string) (net.Listener, error) {
	if addr == "" {
		addr = ":http"
	}
	return net.Listen("tcp", addr)
}

func (s *Server) shutdown() error {
	ctx, done := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer done()
	if s.cfg.BeforeClose != nil {
		s.cfg.BeforeClose(ctx)
	}
	for _, srv := range append([]*http.Server{s.webhook}, s.others...) {
		if err := srv.Shutdown(ctx); err != nil {
			s.cfg.Logger.Warn("shutdown did not finish every request", zap.String("addr", srv.Addr), zap.Error(err))
		}
	}
	s.cfg.Logger.Info("shut down")
	return nil
}
