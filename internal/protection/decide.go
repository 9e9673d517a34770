// Package protection keeps the in-use-protection finalizer on
// DeploymentTargets and releases it only when a live list shows no referrer.
package protection

import (
	"fmt"
	"strings"
	"time"

	"flinkgate.io/flinkgate/internal/resource"
)

// Action is what the controller does to a target.
type Action int

const (
	// Nothing: the target is as it should be, or the finalizer is not ours
	// to act on.
	Nothing Action = iota
	// AddFinalizer: a live target lacks the finalizer.
	AddFinalizer
	// List: the target has settled; list its referrers live and decide again.
	List
	// Wait: the finalizer stays for now; Reason says why, and the target is
	// looked at again after RequeueAfter (0: with backoff).
	Wait
	// RemoveFinalizer: nothing references the terminating target.
	RemoveFinalizer
)

func (a Action) String() string {
	return [...]string{"nothing", "add-finalizer", "list", "wait", "remove-finalizer"}[a]
}

// Input is what the decision reads about one target.
type Input struct {
	Finalizers []string
	// DeletionTimestamp is nil while the target is live.
	DeletionTimestamp *time.Time
	// NamespaceTerminating is set when the target's namespace is being
	// deleted: the API server then refuses every create in it, and the
	// namespace controller deletes its deployments, so nothing can come to
	// reference the target and there is no need to settle.
	NamespaceTerminating bool
	Now                  time.Time
	// Settle is how long a target must have been terminating before its
	// referrers are listed (see DefaultSettle).
	Settle time.Duration
	// Listed is set once Referrers holds a live list's answer.
	Listed    bool
	Referrers []string
}

// Decision is the controller's next step for a target.
type Decision struct {
	Action       Action
	Reason       string
	RequeueAfter time.Duration
}

// maxNamed bounds how many referrers an Event names.
const maxNamed = 10

// Decide is the protection rule as a pure function.
func Decide(in Input) Decision {
	ours := resource.HasFinalizer(in.Finalizers, resource.FinalizerInUse)
	switch {
	case in.DeletionTimestamp == nil && !ours && !in.NamespaceTerminating:
		return Decision{Action: AddFinalizer}
	case in.DeletionTimestamp == nil || !ours:
		// A live target that carries it, a live target in a namespace that is
		// going away, or a terminating target whose finalizer is released
		// (or was never ours): the other finalizers are their owners' business.
		return Decision{Action: Nothing}
	}
	if !in.NamespaceTerminating {
		if left := in.DeletionTimestamp.Add(in.Settle).Sub(in.Now); left > 0 {
			return Decision{Action: Wait, RequeueAfter: left,
				Reason: fmt.Sprintf("waiting %s for writes admitted before the deletion to be stored", left.Round(time.Second))}
		}
	}
	if !in.Listed {
		return Decision{Action: List}
	}
	if len(in.Referrers) > 0 {
		return Decision{Action: Wait, Reason: "still referenced by " + names(in.Referrers)}
	}
	return Decision{Action: RemoveFinalizer}
}

func names(refs []string) string {
	if len(refs) <= maxNamed {
		return strings.Join(refs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(refs[:maxNamed], ", "), len(refs)-maxNamed)
}
