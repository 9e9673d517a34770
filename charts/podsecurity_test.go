// Pod security: the rendered pod passes the restricted Pod Security Standard,
// judged by the same checks the API server's PodSecurity admission runs.

package charts_test

import (
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
)

// TestPodSecurity checks the rendered pod against the restricted Pod Security
// Standard, as the API server's PodSecurity admission would.
func TestPodSecurity(t *testing.T) {
	runRenderCases(t, []renderCase{
		{
			name:   "The pod passes the restricted Pod Security Standard with a read-only root filesystem.",
			values: noValues,
			check: func(t *testing.T, m manifest) {
				tmpl := deployment(t, m).Spec.Template
				for _, v := range restrictedViolations(t, &tmpl.ObjectMeta, &tmpl.Spec) {
					t.Error(v)
				}
			},
		},
	})
}

// restrictedEvaluator runs the PodSecurity admission plugin's own checks.
var restrictedEvaluator = sync.OnceValues(func() (psapolicy.Evaluator, error) {
	return psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
})

// restrictedViolations lists what the restricted Pod Security Standard (at the
// latest version the library knows) forbids in a pod, plus a writable root
// filesystem, which the standard allows but the chart promises not to have.
func restrictedViolations(t *testing.T, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []string {
	t.Helper()
	eval, err := restrictedEvaluator()
	if err != nil {
		t.Fatalf("build the Pod Security evaluator: %v", err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var v []string
	if agg := psapolicy.AggregateCheckResults(eval.EvaluatePod(lv, meta, spec)); !agg.Allowed {
		v = append(v, `violates PodSecurity "restricted:latest": `+agg.ForbiddenDetail())
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			v = append(v, c.Name+" has a writable root filesystem")
		}
	}
	return v
}

// The check above must be able to fail: each case breaks a compliant pod in
// one way, and it must be reported.
func TestRestrictedCheckFindsViolations(t *testing.T) {
	yes, no, root := true, false, int64(0)
	compliant := func() corev1.PodSpec {
		return corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		}
	}
	cases := []struct {
		name   string
		break_ func(s *corev1.PodSpec)
	}{
		{"A privileged container is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Privileged = &yes }},
		{"Allowing privilege escalation is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }},
		{"Keeping capabilities is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil }},
		{"Adding a capability is reported.", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		}},
		{"A pod that may run as root is reported.", func(s *corev1.PodSpec) { s.SecurityContext.RunAsNonRoot = nil }},
		{"A container running as UID 0 is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.RunAsUser = &root }},
		{"A missing seccomp profile is reported.", func(s *corev1.PodSpec) { s.SecurityContext.SeccompProfile = nil }},
		{"A hostPath volume is reported.", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}},
		{"Host networking is reported.", func(s *corev1.PodSpec) { s.HostNetwork = true }},
		{"A writable root filesystem is reported.", func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil }},
	}
	t.Run("A compliant pod is not reported.", func(t *testing.T) {
		s := compliant()
		if v := restrictedViolations(t, &metav1.ObjectMeta{}, &s); len(v) != 0 {
			t.Errorf("reported: %q", v)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := compliant()
			tc.break_(&s)
			if v := restrictedViolations(t, &metav1.ObjectMeta{}, &s); len(v) == 0 {
				t.Error("not reported")
			}
		})
	}
}
