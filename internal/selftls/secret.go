package selftls

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"flinkgate.io/flinkgate/certs"
)

// The Secret's keys. tls.crt, tls.key and ca.crt are the names of a
// kubernetes.io/tls Secret, so tools that read the chart's other modes work.
const (
	keyCert       = "tls.crt"
	keyKey        = "tls.key"
	keyBundle     = "ca.crt"
	keySignerCert = "ca-signer.crt"
	keySignerKey  = "ca-signer.key"
	keyNextCert   = "ca-next.crt"
	keyNextKey    = "ca-next.key"

	annotationBundleChanged = "flinkgate.io/tls-bundle-changed-at"
	annotationSignerChanged = "flinkgate.io/tls-signer-changed-at"
	// RotateAnnotation on the Secret asks for a rotation now: "ca" or
	// "serving". flinkgate removes it once the rotation has started.
	RotateAnnotation = "flinkgate.io/rotate"
)

// decode parses a Secret. What does not parse is left empty, and step
// replaces it; a Secret is never refused.
func decode(sec *corev1.Secret) state {
	var s state
	d := sec.Data
	if b, err := certs.ParseCertificates(d[keyBundle]); err == nil {
		s.bundle = b
	}
	if ca, err := certs.ParseCA(d[keySignerCert], d[keySignerKey]); err == nil {
		s.signer = ca
	}
	if ca, err := certs.ParseCA(d[keyNextCert], d[keyNextKey]); err == nil && s.signer != nil {
		s.next = ca
	}
	if c, err := parseLeaf(d[keyCert]); err == nil && len(d[keyKey]) > 0 {
		s.certPEM, s.keyPEM, s.cert = d[keyCert], d[keyKey], c
	}
	s.bundleChangedAt = parseTime(sec.Annotations[annotationBundleChanged])
	s.signerChangedAt = parseTime(sec.Annotations[annotationSignerChanged])
	s.rotate = sec.Annotations[RotateAnnotation]
	return s
}

// encode writes s into sec's data and annotations, keeping everything else.
func encode(s state, sec *corev1.Secret) {
	sec.Type = corev1.SecretTypeTLS
	sec.Data = map[string][]byte{
		keyCert:       s.certPEM,
		keyKey:        s.keyPEM,
		keyBundle:     certs.EncodeCertificates(s.bundle),
		keySignerCert: s.signer.CertPEM,
		keySignerKey:  s.signer.KeyPEM,
	}
	if s.next != nil {
		sec.Data[keyNextCert] = s.next.CertPEM
		sec.Data[keyNextKey] = s.next.KeyPEM
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Annotations[annotationBundleChanged] = s.bundleChangedAt.UTC().Format(time.RFC3339Nano)
	sec.Annotations[annotationSignerChanged] = s.signerChangedAt.UTC().Format(time.RFC3339Nano)
	if s.rotate == "" {
		delete(sec.Annotations, RotateAnnotation)
	} else {
		sec.Annotations[RotateAnnotation] = s.rotate
	}
}

// parseTime reads an annotation's time; a missing or broken one is the zero
// time, which step replaces with the present (so the waits start over).
func parseTime(v string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}
