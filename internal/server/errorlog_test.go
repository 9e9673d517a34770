package server

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestListenerErrorsAreLoggedAtABoundedRate(t *testing.T) {
	cases := []struct {
		name       string
		lines      int           // written at once
		thenAfter  time.Duration // one more line this long after
		wantLogged int
		wantLast   int64 // suppressed_before on the last line logged
	}{
		{"a few errors are all logged", errorLinesPerSecond, 0, errorLinesPerSecond, 0},
		{"a burst beyond the bound logs only the bound within the second", 1000, 0, errorLinesPerSecond, 0},
		{"the next second's first line says how many were dropped", 1000, time.Second, errorLinesPerSecond + 1, 1000 - errorLinesPerSecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			now := time.Unix(1000, 0)
			w := &limitedWriter{log: zap.New(core), now: func() time.Time { return now }}
			for range tc.lines {
				if _, err := w.Write([]byte("http: TLS handshake error from 10.0.0.1:1234: remote error\n")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.thenAfter > 0 {
				now = now.Add(tc.thenAfter)
				_, _ = w.Write([]byte("http: TLS handshake error from 10.0.0.1:1235: remote error\n"))
			}
			all := logs.All()
			if len(all) != tc.wantLogged {
				t.Fatalf("logged %d lines, want %d", len(all), tc.wantLogged)
			}
			if got := all[len(all)-1].ContextMap()["suppressed_before"]; got != tc.wantLast {
				t.Errorf("suppressed_before = %v, want %d", got, tc.wantLast)
			}
		})
	}
}
