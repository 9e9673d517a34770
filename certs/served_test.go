package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestServed(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := &tls.Certificate{Leaf: &x509.Certificate{NotAfter: t0}}
	cases := []struct {
		name  string
		setup func(s *Served)
		now   time.Time
		want  string // a part of Check's error; "" means ready
	}{
		{name: "With no certificate Check names the starting reason.", setup: func(*Served) {}, now: t0.Add(-time.Hour), want: "no serving certificate loaded: not read yet"},
		{name: "A failure before any certificate becomes the reason.", setup: func(s *Served) { s.Fail(errors.New("bad pair")) }, now: t0.Add(-time.Hour), want: "bad pair"},
		{name: "A certificate in service before its expiry is ready.", setup: func(s *Served) { s.Serve(cert, []byte("c"), []byte("k")) }, now: t0.Add(-time.Hour)},
		{name: "A failure after a certificate is in service keeps it serving.", setup: func(s *Served) {
			s.Serve(cert, []byte("c"), []byte("k"))
			s.Fail(errors.New("bad pair"))
		}, now: t0.Add(-time.Hour)},
		{name: "A certificate at its expiry is not ready.", setup: func(s *Served) { s.Serve(cert, []byte("c"), []byte("k")) }, now: t0, want: "expired at 2030-01-01T00:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServed(errors.New("not read yet"))
			tc.setup(s)
			err := s.Check(tc.now)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestServedFailSaysWhetherTheReasonChanged(t *testing.T) {
	s := NewServed(nil)
	for i, tc := range []struct {
		err  string
		want bool
	}{{"a", true}, {"a", false}, {"b", true}} {
		if got := s.Fail(errors.New(tc.err)); got != tc.want {
			t.Errorf("failure %d (%s): changed = %v, want %v", i, tc.err, got, tc.want)
		}
	}
}
