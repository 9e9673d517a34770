package selftls

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	t0        = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	testHosts = []string{"127.0.0.1", "fg.ns.svc"}
	testPol   = policy{hosts: testHosts, caValidity: 90 * 24 * time.Hour, certValidity: 24 * time.Hour, overlap: time.Minute}
)

func mustStep(t *testing.T, p policy, s state, now time.Time, injected bool) (state, []string) {
	t.Helper()
	next, changes, err := p.step(s, now, injected)
	if err != nil {
		t.Fatal(err)
	}
	return next, changes
}

// fresh is the state right after the first start at t0.
func fresh(t *testing.T) state {
	t.Helper()
	s, _ := mustStep(t, testPol, state{}, t0, false)
	return s
}

// verifies says whether the serving certificate of s chains to a CA of bundle
// for every host.
func verifies(cert *x509.Certificate, bundle []*x509.Certificate, at time.Time) bool {
	pool := x509.NewCertPool()
	for _, c := range bundle {
		pool.AddCert(c)
	}
	for _, h := range testHosts {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return false
		}
	}
	return true
}

func TestStep(t *testing.T) {
	cases := []struct {
		name string
		// given returns the state before the step, the time and whether the
		// webhook configurations carry its bundle.
		given func(t *testing.T) (state, time.Time, bool)
		check func(t *testing.T, before, after state, changes []string)
	}{
		{
			name:  "An empty Secret gets a CA that is trusted and signs a serving certificate for the hosts.",
			given: func(*testing.T) (state, time.Time, bool) { return state{}, t0, false },
			check: func(t *testing.T, _, s state, changes []string) {
				if s.signer == nil || s.next != nil || len(s.bundle) != 1 || !s.bundle[0].Equal(s.signer.Cert) {
					t.Fatalf("signer %v next %v bundle of %d; want one CA, trusted and signing", s.signer, s.next, len(s.bundle))
				}
				if !verifies(s.cert, s.bundle, t0) {
					t.Error("the serving certificate does not verify for the hosts under the bundle")
				}
				if len(changes) == 0 {
					t.Error("no change reported")
				}
			},
		},
		{
			name: "A Secret in its steady state is left unchanged.",
			given: func(t *testing.T) (state, time.Time, bool) {
				return fresh(t), t0.Add(time.Hour), true
			},
			check: func(t *testing.T, _, _ state, changes []string) {
				if len(changes) != 0 {
					t.Errorf("changes %q; want none", changes)
				}
			},
		},
		{
			name: "A serving rotation request issues a new certificate signed by the same CA and clears the request.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := fresh(t)
				s.rotate = RotateServing
				return s, t0.Add(time.Hour), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.cert.Equal(before.cert) {
					t.Fatal("the serving certificate was not replaced")
				}
				if after.signer != before.signer || len(after.bundle) != 1 {
					t.Error("the CA or the bundle changed")
				}
				if after.cert.CheckSignatureFrom(before.signer.Cert) != nil {
					t.Error("the new certificate is not signed by the same CA")
				}
				if after.rotate != "" {
					t.Errorf("the request %q was not cleared", after.rotate)
				}
			},
		},
		{
			name: "A serving certificate past two thirds of its lifetime is reissued by the same CA, the bundle unchanged.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := fresh(t)
				return s, s.cert.NotBefore.Add(testPol.certValidity * 2 / 3).Add(time.Second), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.cert.Equal(before.cert) || after.cert.CheckSignatureFrom(before.signer.Cert) != nil {
					t.Error("the certificate was not reissued by the same CA")
				}
				if !slices.EqualFunc(after.bundle, before.bundle, (*x509.Certificate).Equal) {
					t.Error("the bundle changed")
				}
			},
		},
		{
			name: "A CA rotation request trusts a new CA beside the old one while the old one still signs.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := fresh(t)
				s.rotate = RotateCA
				return s, t0.Add(time.Hour), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.next == nil || after.signer != before.signer || !after.cert.Equal(before.cert) {
					t.Fatal("want a next CA, the old signer and the old certificate")
				}
				if len(after.bundle) != 2 || !after.bundle[0].Equal(after.next.Cert) || !after.bundle[1].Equal(before.signer.Cert) {
					t.Error("the bundle does not hold the new CA and the old one")
				}
				if after.rotate != "" {
					t.Errorf("the request %q was not cleared", after.rotate)
				}
			},
		},
		{
			name: "A CA past two thirds of its lifetime starts a rotation by itself.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := fresh(t)
				return s, s.signer.Cert.NotBefore.Add(testPol.caValidity * 2 / 3).Add(time.Second), true
			},
			check: func(t *testing.T, _, after state, _ []string) {
				if after.next == nil || len(after.bundle) != 2 {
					t.Error("no CA rotation started")
				}
			},
		},
		{
			name: "The new CA does not sign before the overlap has passed.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := rotating(t)
				return s, s.bundleChangedAt.Add(testPol.overlap - time.Second), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.next == nil || after.signer != before.signer {
					t.Error("the new CA was promoted early")
				}
			},
		},
		{
			name: "The new CA does not sign while the webhook configurations lack the bundle that trusts it.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := rotating(t)
				return s, s.bundleChangedAt.Add(10 * testPol.overlap), false
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.next == nil || after.signer != before.signer {
					t.Error("the new CA was promoted before it was injected")
				}
			},
		},
		{
			name: "After the overlap the new CA signs a new serving certificate and both CAs stay trusted.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := rotating(t)
				return s, s.bundleChangedAt.Add(testPol.overlap), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.next != nil || after.signer != before.next {
					t.Fatal("the new CA was not promoted")
				}
				if after.cert.CheckSignatureFrom(before.next.Cert) != nil {
					t.Error("the serving certificate is not signed by the new CA")
				}
				if len(after.bundle) != 2 {
					t.Errorf("the bundle holds %d CAs; want both until the overlap passes", len(after.bundle))
				}
			},
		},
		{
			name: "The old CA is dropped an overlap after the new CA began signing.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := rotating(t)
				s, _ = mustStep(t, testPol, s, s.bundleChangedAt.Add(testPol.overlap), true)
				return s, s.signerChangedAt.Add(testPol.overlap), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if len(after.bundle) != 1 || !after.bundle[0].Equal(before.signer.Cert) {
					t.Errorf("the bundle holds %d CAs; want only the new signer", len(after.bundle))
				}
			},
		},
		{
			name: "A changed host list reissues the serving certificate.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := fresh(t)
				s.cert.DNSNames = []string{"other.example"}
				return s, t0.Add(time.Hour), true
			},
			check: func(t *testing.T, _, after state, changes []string) {
				if !slices.Equal(hostsOf(after.cert), slices.Sorted(slices.Values(testHosts))) {
					t.Errorf("hosts %q", hostsOf(after.cert))
				}
				if !slices.ContainsFunc(changes, func(c string) bool { return strings.Contains(c, "hosts changed") }) {
					t.Errorf("changes %q do not say the hosts changed", changes)
				}
			},
		},
		{
			name: "Lost timestamps restart the overlap instead of ending it.",
			given: func(t *testing.T) (state, time.Time, bool) {
				s := rotating(t)
				s.bundleChangedAt, s.signerChangedAt = time.Time{}, time.Time{}
				return s, t0.Add(time.Hour), true
			},
			check: func(t *testing.T, before, after state, _ []string) {
				if after.next == nil || after.signer != before.signer {
					t.Error("the new CA was promoted without waiting")
				}
				if !after.bundleChangedAt.Equal(t0.Add(time.Hour)) {
					t.Errorf("bundleChangedAt %s; want the present", after.bundleChangedAt)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, now, injected := tc.given(t)
			after, changes := mustStep(t, testPol, before, now, injected)
			tc.check(t, before, after, changes)
		})
	}
}

// rotating is a state in which a CA rotation has just started.
func rotating(t *testing.T) state {
	t.Helper()
	s := fresh(t)
	s.rotate = RotateCA
	s, _ = mustStep(t, testPol, s, t0.Add(time.Hour), true)
	return s
}

// TestNoMomentOfDistrust simulates a CA rotation and a serving rotation sync
// by sync, with an API server that may still use any bundle of the last
// overlap and replicas that may still serve any certificate of the last sync
// period, and checks that every such pair verifies.
func TestNoMomentOfDistrust(t *testing.T) {
	const sync = 10 * time.Second
	type snapshot struct {
		at     time.Time
		cert   *x509.Certificate
		bundle []*x509.Certificate
	}
	s := fresh(t)
	history := []snapshot{{t0, s.cert, s.bundle}}
	now := t0
	rotations := 0
	for i := 0; i < 200; i++ {
		now = now.Add(sync)
		switch i {
		case 10:
			s.rotate = RotateCA
		case 100:
			s.rotate = RotateServing
		}
		next, changes := mustStep(t, testPol, s, now, true)
		rotations += len(changes)
		s = next
		history = append(history, snapshot{now, s.cert, s.bundle})
		for _, served := range history {
			if now.Sub(served.at) > sync {
				continue
			}
			for _, seen := range history {
				if now.Sub(seen.at) > testPol.overlap {
					continue
				}
				if !verifies(served.cert, seen.bundle, now) {
					t.Fatalf("at %s a certificate served since %s does not verify under the bundle published at %s",
						now.Sub(t0), served.at.Sub(t0), seen.at.Sub(t0))
				}
			}
		}
	}
	if len(s.bundle) != 1 || s.next != nil {
		t.Errorf("after the rotations the bundle holds %d CAs, next %v; want only the signer", len(s.bundle), s.next)
	}
	if rotations < 5 {
		t.Errorf("only %d changes happened; the simulation did not rotate", rotations)
	}
	if history[0].bundle[0].Equal(s.signer.Cert) {
		t.Error("the CA was not rotated")
	}
}

func TestAnUnknownRotationRequestIsClearedAndSaysWhatIsValid(t *testing.T) {
	s := fresh(t)
	s.rotate = "everything"
	after, changes := mustStep(t, testPol, s, t0.Add(time.Hour), true)
	if after.rotate != "" || !after.cert.Equal(s.cert) || after.next != nil {
		t.Errorf("rotate %q, certificate replaced %v, next %v; want the request cleared and nothing rotated", after.rotate, !after.cert.Equal(s.cert), after.next)
	}
	if len(changes) != 1 || !strings.Contains(changes[0], `want "ca" or "serving"`) {
		t.Errorf("changes %q; want one saying which requests exist", changes)
	}
}
