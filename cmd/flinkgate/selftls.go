package main

import (
	"errors"
	"flag"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/certs"
	"flinkgate.io/flinkgate/internal/selftls"
)

// selfTLSFlags are the flags of tls.mode: self, where flinkgate keeps its
// own certificate in a Secret instead of reading files.
type selfTLSFlags struct {
	secret                   string
	webhooks                 string
	hosts                    string
	caValidity, certValidity time.Duration
	overlap, syncPeriod      time.Duration
}

func (f *selfTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.secret, "self-tls-secret", "", "self-managed TLS: the Secret in the platform namespace holding flinkgate's CA and serving certificate, created if missing (instead of --tls-cert-file)")
	fs.StringVar(&f.webhooks, "self-tls-webhook-configuration", "", "self-managed TLS: the name of the Mutating- and ValidatingWebhookConfiguration whose caBundle flinkgate keeps current")
	fs.StringVar(&f.hosts, "self-tls-hosts", "", "self-managed TLS: comma-separated DNS names and IP addresses the serving certificate covers")
	fs.DurationVar(&f.caValidity, "self-tls-ca-validity", 5*365*24*time.Hour, "self-managed TLS: lifetime of a new CA; rotated after two thirds of it")
	fs.DurationVar(&f.certValidity, "self-tls-cert-validity", 90*24*time.Hour, "self-managed TLS: lifetime of a new serving certificate; renewed after two thirds of it")
	fs.DurationVar(&f.overlap, "self-tls-overlap", 2*time.Minute, "self-managed TLS: how long a new caBundle or CA is published before a rotation relies on it")
	fs.DurationVar(&f.syncPeriod, "self-tls-sync-period", 15*time.Second, "self-managed TLS: how often the Secret is read")
}

func (f *selfTLSFlags) enabled() bool { return f.secret != "" }

// check says what is missing, once parsing has decided the mode.
func (f *selfTLSFlags) check(certFile, keyFile string) error {
	if !f.enabled() {
		if certFile == "" || keyFile == "" {
			return errors.New("--tls-cert-file and --tls-private-key-file are required (or --self-tls-secret for self-managed TLS)")
		}
		return nil
	}
	if certFile != "" || keyFile != "" {
		return errors.New("--self-tls-secret and --tls-cert-file/--tls-private-key-file exclude each other")
	}
	if f.webhooks == "" || f.hosts == "" {
		return errors.New("--self-tls-secret needs --self-tls-webhook-configuration and --self-tls-hosts")
	}
	return nil
}

func newCertSource(c *serveConfig, client kubernetes.Interface, log *zap.Logger, reg prometheus.Registerer) (certs.Source, error) {
	if !c.selfTLS.enabled() {
		return certs.NewFileSource(c.certFile, c.keyFile, log, reg)
	}
	f := c.selfTLS
	return selftls.New(selftls.Config{
		Client: client, Namespace: c.platformNamespace, SecretName: f.secret,
		WebhookConfiguration: f.webhooks, Hosts: splitList(f.hosts),
		CAValidity: f.caValidity, CertValidity: f.certValidity, Overlap: f.overlap, SyncPeriod: f.syncPeriod,
		Logger: log, Registerer: reg,
	})
}
