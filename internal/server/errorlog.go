package server

import (
	"log"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// errorLinesPerSecond bounds what the webhook listener's own errors (failed
// TLS handshakes, malformed requests) write to the log. Any pod can cause
// one per connection; without a bound a flood of refused handshakes becomes
// a flood of log lines, costing CPU and the node's disk.
const errorLinesPerSecond = 5

// limitedErrorLog is the webhook listener's http.Server.ErrorLog: up to
// errorLinesPerSecond lines a second are logged; the rest are counted, and
// the count goes with the next line logged.
func limitedErrorLog(l *zap.Logger) *log.Logger {
	return log.New(&limitedWriter{log: l, now: time.Now}, "", 0)
}

type limitedWriter struct {
	log *zap.Logger
	now func() time.Time

	mu         sync.Mutex
	second     time.Time // start of the current one-second window
	inWindow   int       // lines logged in it
	suppressed int       // lines dropped since the last one logged
}

// Write takes one line from log.Logger, which calls it once per message.
func (w *limitedWriter) Write(p []byte) (int, error) {
	now := w.now()
	w.mu.Lock()
	if now.Sub(w.second) >= time.Second {
		w.second, w.inWindow = now, 0
	}
	if w.inWindow >= errorLinesPerSecond {
		w.suppressed++
		w.mu.Unlock()
		return len(p), nil
	}
	w.inWindow++
	suppressed := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	w.log.Warn("webhook listener error", zap.String("error", strings.TrimSpace(string(p))), zap.Int("suppressed_before", suppressed))
	return len(p), nil
}
