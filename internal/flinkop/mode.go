package flinkop

import "flinkgate.io/flinkgate/internal/enumflag"

// Mode is flinkgate serve's --flink-operator: whether it reconciles
// Deployments into FlinkDeployments (and denies at admission what it could
// not translate).
type Mode string

const (
	// ModeOff leaves Deployments to whatever runs them; nothing changes.
	ModeOff Mode = "off"
	// ModeOn reconciles each Deployment into a FlinkDeployment in its
	// target's namespace.
	ModeOn Mode = "on"
)

// ParseMode reads a mode strictly: off or on.
func ParseMode(s string) (Mode, error) {
	return enumflag.Parse("flink operator mode", s, ModeOff, ModeOn)
}

// String implements flag.Value.
func (m *Mode) String() string { return string(*m) }

// Set implements flag.Value.
func (m *Mode) Set(s string) error { return enumflag.Set(m, s, ParseMode) }
