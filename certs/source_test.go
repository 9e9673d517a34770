package certs

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

func TestClientAuthSourceIsReadyOnlyWhenBothHalvesAre(t *testing.T) {
	cases := []struct {
		name              string
		withCert, withCAs bool
		wantReady         bool
	}{
		{"a serving certificate and a loaded client CA are ready", true, true, true},
		{"a missing serving certificate is not ready, though the client CA loaded", false, true, false},
		{"a missing client CA file is not ready, though the serving certificate loaded", true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.withCert {
				writeBundle(t, dir, "127.0.0.1")
			}
			caFile := filepath.Join(dir, "client-ca.crt")
			if tc.withCAs {
				writeFile(t, caFile, caPEM(newTestCA(t, "webhook-clients")))
			}
			files, err := NewFileSource(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			src, err := WithClientAuth(files, caFile, nil, zap.NewNop(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Ready(); (err == nil) != tc.wantReady {
				t.Errorf("Ready() = %v, want ready=%v", err, tc.wantReady)
			}
			if cfg := src.TLSConfig(); cfg.GetConfigForClient == nil {
				t.Error("the TLS configuration does not check callers' certificates")
			}
		})
	}
}
