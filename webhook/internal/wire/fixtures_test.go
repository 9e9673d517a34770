package wire

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/internal/hostile"
	"flinkgate.io/flinkgate/webhook/internal/reviewtest"
)

// The fixtures are the webhook tests' (reviewtest), by their names there.
const (
	platformNS     = reviewtest.PlatformNS
	yamlDeployment = reviewtest.YAMLDeployment
	seedTarget     = hostile.SeedTarget
)

func with(cm *corev1.ConfigMap, f func(*corev1.ConfigMap)) *corev1.ConfigMap {
	out := cm.DeepCopy()
	f(out)
	return out
}

var (
	configMap     = reviewtest.ConfigMap
	review        = reviewtest.Review
	appliedReview = reviewtest.Applied
)

// checkWordIsBytes compares an eight-byte test with the same test byte by
// byte: every byte value at every position among each fill byte, then
// random words drawn half from near (bytes next to the tests' thresholds).
func checkWordIsBytes(t *testing.T, name string, word func(uint64) bool, byte1 func(byte) bool, fills, near []byte, seed uint64) {
	t.Helper()
	byBytes := func(w [8]byte) bool {
		for _, c := range w {
			if !byte1(c) {
				return false
			}
		}
		return true
	}
	check := func(w [8]byte) {
		t.Helper()
		if got, want := word(binary.LittleEndian.Uint64(w[:])), byBytes(w); got != want {
			t.Fatalf("%s(%q) = %v, want %v", name, w, got, want)
		}
	}
	for _, fill := range fills {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for range 200_000 {
		var w [8]byte
		for i := range w {
			if rng.IntN(2) == 0 {
				w[i] = near[rng.IntN(len(near))]
			} else {
				w[i] = byte(rng.IntN(256))
			}
		}
		check(w)
	}
}
