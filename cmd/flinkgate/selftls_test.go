package main

import (
	"testing"
	"time"
)

func TestSelfTLSFlags(t *testing.T) {
	// self is the configuration of the self-managed TLS flags alone.
	self := func(c *serveConfig) {
		c.certFile, c.keyFile = "", ""
		c.selfTLS.secret, c.selfTLS.webhooks, c.selfTLS.hosts = "fg-tls", "fg", "fg.ns.svc,127.0.0.1"
	}
	selfFlags := []string{"--self-tls-secret=fg-tls", "--self-tls-webhook-configuration=fg", "--self-tls-hosts=fg.ns.svc,127.0.0.1"}
	cases := []flagCase{
		{name: "With --self-tls-secret no certificate files are needed, and the durations default to a 5-year CA, 90-day certificates and a 2-minute overlap.", args: selfFlags, want: self},
		{name: "The self-managed TLS durations are parsed.", args: append([]string{"--self-tls-ca-validity=24h", "--self-tls-cert-validity=2h", "--self-tls-overlap=1m", "--self-tls-sync-period=5s"}, selfFlags...), want: func(c *serveConfig) {
			self(c)
			c.selfTLS.caValidity, c.selfTLS.certValidity, c.selfTLS.overlap, c.selfTLS.syncPeriod = 24*time.Hour, 2*time.Hour, time.Minute, 5*time.Second
		}},
		{name: "Self-managed TLS together with certificate files is an error.", args: append([]string{"--tls-cert-file=c", "--tls-private-key-file=k"}, selfFlags...), wantError: "exclude each other"},
		{name: "Self-managed TLS without the webhook configuration name is an error.", args: []string{"--self-tls-secret=fg-tls", "--self-tls-hosts=h"}, wantError: "--self-tls-webhook-configuration"},
		{name: "Self-managed TLS without hosts is an error.", args: []string{"--self-tls-secret=fg-tls", "--self-tls-webhook-configuration=fg"}, wantError: "--self-tls-hosts"},
		{name: "Neither certificate files nor a Secret is an error that names both ways.", args: nil, wantError: "--self-tls-secret"},
	}
	runFlagCases(t, cases)
}
