package main

import (
	"testing"
	"time"
)

func TestSelfTLSFlags(t *testing.T) {
	self := []string{"--self-tls-secret=fg-tls", "--self-tls-webhook-configuration=fg", "--self-tls-hosts=fg.ns.svc,127.0.0.1"}
	cases := []flagCase{
		{name: "With --self-tls-secret no certificate files are needed.", args: self, check: func(c *serveConfig) bool {
			return c.selfTLS.enabled() && c.selfTLS.secret == "fg-tls" && c.selfTLS.webhooks == "fg" && c.certFile == ""
		}},
		{name: "The self-managed TLS durations default to a 5-year CA, 90-day certificates and a 2-minute overlap.", args: self, check: func(c *serveConfig) bool {
			f := c.selfTLS
			return f.caValidity == 5*365*24*time.Hour && f.certValidity == 90*24*time.Hour && f.overlap == 2*time.Minute && f.syncPeriod == 15*time.Second
		}},
		{name: "Self-managed TLS together with certificate files is an error.", args: append([]string{"--tls-cert-file=c", "--tls-private-key-file=k"}, self...), wantError: "exclude each other"},
		{name: "Self-managed TLS without the webhook configuration name is an error.", args: []string{"--self-tls-secret=fg-tls", "--self-tls-hosts=h"}, wantError: "--self-tls-webhook-configuration"},
		{name: "Self-managed TLS without hosts is an error.", args: []string{"--self-tls-secret=fg-tls", "--self-tls-webhook-configuration=fg"}, wantError: "--self-tls-hosts"},
		{name: "Neither certificate files nor a Secret is an error that names both ways.", args: nil, wantError: "--self-tls-secret"},
	}
	runFlagCases(t, cases)
}
