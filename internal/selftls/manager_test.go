package selftls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	testNS     = "flink-platform"
	testSecret = "fg-flinkgate-tls"
	testConfig = "fg-flinkgate"
)

// newClient is a fake API server holding both webhook configurations, with
// the optimistic concurrency of a real one (the fake tracker has none):
// an update must carry the stored resourceVersion.
func newClient(t *testing.T, withConfigs bool) *fake.Clientset {
	t.Helper()
	var objs []runtime.Object
	if withConfigs {
		objs = append(objs,
			&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: testConfig, UID: "m-uid", ResourceVersion: "1"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.flinkgate.io"}}},
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: testConfig, UID: "v-uid", ResourceVersion: "1"},
				Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.flinkgate.io"}}},
		)
	}
	c := fake.NewClientset(objs...)
	var mu sync.Mutex
	rv := 1
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		obj := a.(k8stesting.CreateAction).GetObject().DeepCopyObject()
		m, _ := meta.Accessor(obj)
		rv++
		m.SetResourceVersion(strconv.Itoa(rv))
		if err := c.Tracker().Create(a.GetResource(), obj, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, obj, nil
	})
	c.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		obj := a.(k8stesting.UpdateAction).GetObject().DeepCopyObject()
		m, _ := meta.Accessor(obj)
		stored, err := c.Tracker().Get(a.GetResource(), a.GetNamespace(), m.GetName())
		if err != nil {
			return true, nil, err
		}
		sm, _ := meta.Accessor(stored)
		if sm.GetResourceVersion() != m.GetResourceVersion() {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: a.GetResource().Resource}, m.GetName(), errors.New("the object has been modified"))
		}
		rv++
		m.SetResourceVersion(strconv.Itoa(rv))
		if err := c.Tracker().Update(a.GetResource(), obj, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, obj, nil
	})
	return c
}

func newManager(t *testing.T, c *fake.Clientset, now func() time.Time) *Manager {
	t.Helper()
	m, err := New(Config{
		Client: c, Namespace: testNS, SecretName: testSecret, WebhookConfiguration: testConfig,
		Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, CertValidity: 24 * time.Hour,
		Overlap: time.Minute, SyncPeriod: time.Second, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// syncUntilSettled syncs until a sync changes nothing, like Run would.
func syncUntilSettled(t *testing.T, m *Manager) {
	t.Helper()
	for range 10 {
		err := m.Sync(context.Background())
		if err == nil {
			return
		}
		if !errors.Is(err, errRetry) {
			t.Fatalf("sync: %v", err)
		}
	}
	t.Fatal("sync did not settle in 10 rounds")
}

func getSecret(t *testing.T, c *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := c.CoreV1().Secrets(testNS).Get(context.Background(), testSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bundles(t *testing.T, c *fake.Clientset) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	mw, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vw, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testConfig, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"mutating": mw.Webhooks[0].ClientConfig.CABundle, "validating": vw.Webhooks[0].ClientConfig.CABundle}
}

// served is the certificate m hands to a TLS handshake.
func served(t *testing.T, m *Manager) *x509.Certificate {
	t.Helper()
	c, err := m.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

func TestManager(t *testing.T) {
	now := func() time.Time { return t0 }
	cases := []struct {
		name  string
		check func(t *testing.T)
	}{
		{
			name: "The first sync creates the Secret, injects its CA into both configurations and serves a certificate that verifies under it.",
			check: func(t *testing.T) {
				c := newClient(t, true)
				m := newManager(t, c, now)
				syncUntilSettled(t, m)
				sec := getSecret(t, c)
				for name, b := range bundles(t, c) {
					if len(b) == 0 || !bytes.Equal(b, sec.Data[keyBundle]) {
						t.Errorf("%s caBundle is not the Secret's ca.crt", name)
					}
				}
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(sec.Data[keyBundle])
				if _, err := served(t, m).Verify(x509.VerifyOptions{DNSName: "fg.ns.svc", Roots: pool, CurrentTime: t0}); err != nil {
					t.Errorf("the served certificate does not verify: %v", err)
				}
				if err := m.Ready(); err != nil {
					t.Errorf("not ready: %v", err)
				}
			},
		},
		{
			name: "The created Secret is owned by the validating configuration, so uninstalling the chart collects it.",
			check: func(t *testing.T) {
				c := newClient(t, true)
				syncUntilSettled(t, newManager(t, c, now))
				refs := getSecret(t, c).OwnerReferences
				if len(refs) != 1 || refs[0].Kind != "ValidatingWebhookConfiguration" || refs[0].Name != testConfig || refs[0].UID != "v-uid" {
					t.Errorf("ownerReferences %+v", refs)
				}
			},
		},
		{
			name: "Replicas that all found no Secret create exactly one, and all serve its certificate.",
			check: func(t *testing.T) {
				c := newClient(t, true)
				ms := []*Manager{newManager(t, c, now), newManager(t, c, now), newManager(t, c, now)}
				// Each create below is what a replica does after its Get
				// found nothing; the API server lets only the first through.
				var first []byte
				for i, m := range ms {
					if err := m.create(context.Background()); !errors.Is(err, errRetry) {
						t.Fatalf("replica %d create: %v; want a retry", i, err)
					}
					if i == 0 {
						first = getSecret(t, c).Data[keyCert]
					}
				}
				for _, m := range ms {
					syncUntilSettled(t, m)
				}
				if !bytes.Equal(getSecret(t, c).Data[keyCert], first) {
					t.Error("a later replica replaced the first replica's certificate")
				}
				for i, m := range ms {
					if !served(t, m).Equal(mustLeaf(t, first)) {
						t.Errorf("replica %d serves a certificate other than the Secret's", i)
					}
				}
			},
		},
		{
			name: "A replica that loses an update race starts over from the winner's Secret instead of overwriting it.",
			check: func(t *testing.T) {
				c := newClient(t, true)
				a, b := newManager(t, c, now), newManager(t, c, now)
				syncUntilSettled(t, a)
				syncUntilSettled(t, b)
				sec := getSecret(t, c)
				sec.Annotations[RotateAnnotation] = RotateServing
				if _, err := c.CoreV1().Secrets(testNS).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				// b reads, then a rotates before b writes.
				stale := getSecret(t, c)
				syncUntilSettled(t, a)
				winner := getSecret(t, c).Data[keyCert]
				stale.Data[keyCert] = []byte("overwrite")
				if _, err := c.CoreV1().Secrets(testNS).Update(context.Background(), stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
					t.Fatalf("an update with a stale resourceVersion: %v; want a conflict", err)
				}
				syncUntilSettled(t, b)
				if !bytes.Equal(getSecret(t, c).Data[keyCert], winner) {
					t.Error("the second replica replaced the winner's certificate")
				}
				if !served(t, b).Equal(mustLeaf(t, winner)) {
					t.Error("the second replica does not serve the winner's certificate")
				}
			},
		},
		{
			name: "Without the webhook configurations the manager serves but is not ready, and says why.",
			check: func(t *testing.T) {
				c := newClient(t, false)
				m := newManager(t, c, now)
				var err error
				for range 3 {
					if err = m.Sync(context.Background()); err != nil && !errors.Is(err, errRetry) {
						break
					}
				}
				if err == nil || !strings.Contains(err.Error(), "mutatingwebhookconfiguration "+testConfig) {
					t.Errorf("sync error %v; want one naming the missing configuration", err)
				}
				if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "not been injected") {
					t.Errorf("ready: %v; want not injected", err)
				}
			},
		},
		{
			name: "A forced CA rotation ends with only the new CA injected and a certificate it signed.",
			check: func(t *testing.T) {
				c := newClient(t, true)
				clock := t0
				m := newManager(t, c, func() time.Time { return clock })
				syncUntilSettled(t, m)
				oldCA := getSecret(t, c).Data[keySignerCert]
				sec := getSecret(t, c)
				sec.Annotations[RotateAnnotation] = RotateCA
				if _, err := c.CoreV1().Secrets(testNS).Update(context.Background(), sec, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				for range 5 {
					clock = clock.Add(time.Minute)
					syncUntilSettled(t, m)
				}
				sec = getSecret(t, c)
				if bytes.Equal(sec.Data[keySignerCert], oldCA) {
					t.Fatal("the CA was not rotated")
				}
				for name, b := range bundles(t, c) {
					if !bytes.Equal(b, sec.Data[keySignerCert]) {
						t.Errorf("%s caBundle is not just the new CA", name)
					}
				}
				if served(t, m).CheckSignatureFrom(mustLeaf(t, sec.Data[keySignerCert])) != nil {
					t.Error("the served certificate is not signed by the new CA")
				}
				if _, ok := sec.Annotations[RotateAnnotation]; ok {
					t.Error("the rotation request was not removed")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.check)
	}
}

func mustLeaf(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	c, err := parseLeaf(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesUnsafeDurations(t *testing.T) {
	base := Config{Client: fake.NewClientset(), Namespace: testNS, SecretName: testSecret, WebhookConfiguration: testConfig,
		Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, CertValidity: 24 * time.Hour, Overlap: time.Minute, SyncPeriod: 10 * time.Second}
	cases := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"An overlap shorter than two sync periods is refused.", func(c *Config) { c.Overlap = 15 * time.Second }, "at least twice the sync period"},
		{"A certificate validity shorter than ten overlaps is refused.", func(c *Config) { c.CertValidity = 5 * time.Minute }, "certificate validity"},
		{"A CA validity shorter than three certificate validities is refused.", func(c *Config) { c.CAValidity = 48 * time.Hour }, "ca validity"},
		{"No hosts is refused.", func(c *Config) { c.Hosts = nil }, "no hosts"},
		{"A sync period over ten minutes is refused.", func(c *Config) { c.SyncPeriod = time.Hour; c.Overlap = 3 * time.Hour }, "sync period"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.modify(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(base); err != nil {
		t.Errorf("the base configuration is refused: %v", err)
	}
}
