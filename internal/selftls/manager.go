package selftls

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"flinkgate.io/flinkgate/certs"
)

// Config configures a Manager.
type Config struct {
	Client kubernetes.Interface
	// Namespace and SecretName locate the Secret holding the CA and the
	// serving certificate; it is created when missing.
	Namespace, SecretName string
	// WebhookConfiguration names both the MutatingWebhookConfiguration and
	// the ValidatingWebhookConfiguration whose caBundle is kept current.
	WebhookConfiguration string
	// Hosts are the DNS names and IP addresses the serving certificate covers.
	Hosts []string
	// CAValidity and CertValidity are the lifetimes of new certificates;
	// each is replaced when two thirds of its lifetime have passed.
	CAValidity, CertValidity time.Duration
	// Overlap is how long a changed caBundle or signer must have been
	// published before the next rotation step relies on it.
	Overlap time.Duration
	// SyncPeriod is how often the Secret is read and the step applied.
	SyncPeriod time.Duration
	Logger     *zap.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Bounds on the durations, so a typo cannot make a certificate expire
// before it can be rotated or rotate on every sync.
const (
	minSyncPeriod   = 100 * time.Millisecond
	maxSyncPeriod   = 10 * time.Minute
	minCertValidity = time.Hour
)

// Manager keeps the Secret, the webhook configurations and the served
// certificate in step. Every replica runs one; they agree through the
// Secret's resourceVersion.
type Manager struct {
	cfg    Config
	policy policy
	log    *zap.Logger

	served *certs.Served

	mu       sync.RWMutex
	injected bool

	rotations *prometheus.CounterVec
}

// A Manager is the webhook port's certificate source in tls.mode: self.
var _ certs.Source = (*Manager)(nil)

// New checks the configuration and registers the certificate metrics.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.SecretName == "" || cfg.WebhookConfiguration == "" {
		return nil, errors.New("self-managed tls needs a client, the secret's namespace and name, and the webhook configuration name")
	}
	hosts, err := normalizeHosts(cfg.Hosts)
	if err != nil {
		return nil, err
	}
	if cfg.SyncPeriod < minSyncPeriod || cfg.SyncPeriod > maxSyncPeriod {
		return nil, fmt.Errorf("sync period %s is outside [%s, %s]", cfg.SyncPeriod, minSyncPeriod, maxSyncPeriod)
	}
	if cfg.Overlap < 2*cfg.SyncPeriod {
		return nil, fmt.Errorf("overlap %s must be at least twice the sync period %s, so every replica reloads within it", cfg.Overlap, cfg.SyncPeriod)
	}
	if cfg.CertValidity < minCertValidity || cfg.CertValidity < 10*cfg.Overlap {
		return nil, fmt.Errorf("certificate validity %s must be at least %s and ten times the overlap %s", cfg.CertValidity, minCertValidity, cfg.Overlap)
	}
	if cfg.CAValidity < 3*cfg.CertValidity {
		return nil, fmt.Errorf("ca validity %s must be at least three times the certificate validity %s", cfg.CAValidity, cfg.CertValidity)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{
		cfg: cfg,
		policy: policy{hosts: hosts, caValidity: cfg.CAValidity, certValidity: cfg.CertValidity,
			overlap: cfg.Overlap},
		log:    cfg.Logger.With(zap.String("secret", cfg.Namespace+"/"+cfg.SecretName)),
		served: certs.NewServed(errors.New("the secret has not been read yet")),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flinkgate_tls_self_rotations_total",
			Help: "Changes flinkgate made to its self-managed certificate Secret, by what: ca (a new CA started, promoted or an old one dropped) or serving.",
		}, []string{"what"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.served.Expiry(), m.rotations} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register self-managed tls metrics: %w", err)
			}
		}
	}
	return m, nil
}

// errRetry marks a lost race with another replica: sync again at once.
var errRetry = errors.New("another replica changed the secret first")

// Run syncs until ctx ends: every SyncPeriod, and soon again after a lost race.
func (m *Manager) Run(ctx context.Context) {
	for {
		wait := m.cfg.SyncPeriod
		if err := m.Sync(ctx); err != nil {
			if errors.Is(err, errRetry) {
				// Jitter, so racing replicas do not collide again.
				wait = time.Duration(rand.Int64N(int64(minSyncPeriod)))
				m.log.Debug("self-managed tls sync lost a race; retrying", zap.Error(err))
			} else if ctx.Err() == nil {
				m.log.Error("self-managed tls sync failed", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Sync reads the Secret (creating it if missing), injects its CA bundle,
// applies the due rotation step and loads the serving certificate.
func (m *Manager) Sync(ctx context.Context) error {
	err := m.sync(ctx)
	if err != nil && !errors.Is(err, errRetry) {
		// Only read while no certificate is in service: a failed sync
		// leaves the one in service serving.
		m.served.Fail(err)
	}
	return err
}

func (m *Manager) sync(ctx context.Context) error {
	secrets := m.cfg.Client.CoreV1().Secrets(m.cfg.Namespace)
	sec, err := secrets.Get(ctx, m.cfg.SecretName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return m.create(ctx)
	case err != nil:
		return fmt.Errorf("get secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
	}
	s := decode(sec)
	injected, injectErr := m.inject(ctx, certsPEM(s))
	now := m.cfg.Now()
	next, changes, err := m.policy.step(s, now, injected)
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		sec = sec.DeepCopy()
		encode(next, sec)
		// Update carries the resourceVersion read above: if another replica
		// wrote in between, this one loses and starts over from its result.
		if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			return errRetry
		} else if err != nil {
			return fmt.Errorf("update secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
		}
		m.record(changes)
		s = next
		_, injectErr = m.inject(ctx, certsPEM(s))
	}
	if err := m.load(s); err != nil {
		return err
	}
	return injectErr
}

// create makes the Secret from nothing. Replicas starting together all try;
// the API server lets exactly one create it and the others adopt it.
func (m *Manager) create(ctx context.Context) error {
	s, changes, err := m.policy.step(state{}, m.cfg.Now(), false)
	if err != nil {
		return err
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: m.cfg.SecretName, Namespace: m.cfg.Namespace,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "flinkgate"},
	}}
	// Owned by the validating webhook configuration, so the garbage
	// collector deletes the Secret when the chart is uninstalled.
	vwc, err := m.cfg.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, m.cfg.WebhookConfiguration, metav1.GetOptions{})
	if err == nil {
		sec.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration",
			Name: vwc.Name, UID: vwc.UID,
		}}
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get validatingwebhookconfiguration %s: %w", m.cfg.WebhookConfiguration, err)
	}
	encode(s, sec)
	_, err = m.cfg.Client.CoreV1().Secrets(m.cfg.Namespace).Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("create secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
	}
	m.record(changes)
	// The next sync (at once) injects the bundle and loads the certificate
	// from the stored Secret, like every replica that lost the race.
	return errRetry
}

func (m *Manager) record(changes []string) {
	for _, c := range changes {
		switch {
		case strings.HasPrefix(c, "issued a serving certificate"):
			m.rotations.WithLabelValues("serving").Inc()
		case strings.Contains(c, "CA"):
			m.rotations.WithLabelValues("ca").Inc()
		}
		m.log.Info("self-managed tls changed", zap.String("change", c))
	}
}

func certsPEM(s state) []byte { return certs.EncodeCertificates(s.bundle) }

// inject writes bundle into every webhook of both configurations and says
// whether both now carry it. A missing configuration is an error: until the
// chart installs it, the API server cannot call this process anyway.
func (m *Manager) inject(ctx context.Context, bundle []byte) (bool, error) {
	if len(bundle) == 0 {
		return false, errors.New("the secret has no ca bundle yet")
	}
	api := m.cfg.Client.AdmissionregistrationV1()
	name := m.cfg.WebhookConfiguration
	mwc, err := api.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return m.injectFailed(fmt.Errorf("get mutatingwebhookconfiguration %s: %w", name, err))
	}
	if setBundles(mwc.Webhooks, func(w *admissionregistrationv1.MutatingWebhook) *[]byte { return &w.ClientConfig.CABundle }, bundle) {
		if _, err := api.MutatingWebhookConfigurations().Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
			return m.injectFailed(fmt.Errorf("inject the ca bundle into mutatingwebhookconfiguration %s: %w", name, err))
		}
		m.log.Info("injected the ca bundle", zap.String("mutatingwebhookconfiguration", name))
	}
	vwc, err := api.ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return m.injectFailed(fmt.Errorf("get validatingwebhookconfiguration %s: %w", name, err))
	}
	if setBundles(vwc.Webhooks, func(w *admissionregistrationv1.ValidatingWebhook) *[]byte { return &w.ClientConfig.CABundle }, bundle) {
		if _, err := api.ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
			return m.injectFailed(fmt.Errorf("inject the ca bundle into validatingwebhookconfiguration %s: %w", name, err))
		}
		m.log.Info("injected the ca bundle", zap.String("validatingwebhookconfiguration", name))
	}
	m.mu.Lock()
	m.injected = true
	m.mu.Unlock()
	return true, nil
}

func (m *Manager) injectFailed(err error) (bool, error) {
	if apierrors.IsConflict(err) {
		return false, errRetry
	}
	return false, err
}

// setBundles sets every webhook's caBundle and says whether any changed.
func setBundles[W any](ws []W, ca func(*W) *[]byte, bundle []byte) bool {
	changed := false
	for i := range ws {
		if p := ca(&ws[i]); !bytes.Equal(*p, bundle) {
			*p = bytes.Clone(bundle)
			changed = true
		}
	}
	return changed
}

// load serves the Secret's certificate from the next handshake on.
func (m *Manager) load(s state) error {
	if m.served.Same(s.certPEM, s.keyPEM) {
		return nil
	}
	pair, err := tls.X509KeyPair(s.certPEM, s.keyPEM)
	if err != nil {
		return fmt.Errorf("load the serving certificate from secret %s/%s: %w", m.cfg.Namespace, m.cfg.SecretName, err)
	}
	pair.Leaf = s.cert
	m.served.Serve(&pair, s.certPEM, s.keyPEM)
	m.log.Info("serving certificate loaded", zap.String("issuer", s.cert.Issuer.CommonName),
		zap.String("serial", s.cert.SerialNumber.Text(16)), zap.Time("not_after", s.cert.NotAfter))
	return nil
}

// GetCertificate is for tls.Config: each handshake takes the newest certificate.
func (m *Manager) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.served.GetCertificate(h)
}

// TLSConfig is the webhook listener's configuration.
func (m *Manager) TLSConfig() *tls.Config { return m.served.TLSConfig() }

// Ready reports why the webhook cannot serve yet, or nil: it needs a valid
// certificate and its CA injected into both webhook configurations once.
func (m *Manager) Ready() error {
	if err := m.served.Check(m.cfg.Now()); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.injected {
		return fmt.Errorf("the ca bundle has not been injected into the webhook configurations %s yet", m.cfg.WebhookConfiguration)
	}
	return nil
}
