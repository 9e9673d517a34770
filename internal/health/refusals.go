// Package health tracks what makes flinkgate unready beyond its own start-up:
// informers whose list or watch the API server refuses.
package health

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	toolscache "k8s.io/client-go/tools/cache"
)

// refusedWindow is how long a refused list or watch keeps flinkgate unready:
// longer than the reflector's longest backoff, so a lasting refusal never
// looks healthy between retries.
const refusedWindow = time.Minute

// Refusals remembers refused lists and watches: an informer whose watch is
// forbidden keeps its first list forever and would look synced, so
// readiness must hear of it.
type Refusals struct {
	now     func() time.Time
	mu      sync.Mutex
	refused map[string]refusal
}

// refusal is a refused list or watch, with the informer's resource version
// then: once the informer lists or watches again, the version moves on.
type refusal struct {
	at       time.Time
	version  string
	informer toolscache.SharedIndexInformer
}

// NewRefusals returns an empty tracker.
func NewRefusals() *Refusals {
	return &Refusals{now: time.Now, refused: map[string]refusal{}}
}

// Track installs a watch error handler on inf (before it runs) that records
// refusals under the name what.
func (r *Refusals) Track(what string, inf toolscache.SharedIndexInformer) error {
	if err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, rf *toolscache.Reflector, err error) {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			r.mu.Lock()
			r.refused[what] = refusal{at: r.now(), version: inf.LastSyncResourceVersion(), informer: inf}
			r.mu.Unlock()
		}
		if rf != nil {
			toolscache.DefaultWatchErrorHandler(ctx, rf, err)
		}
	}); err != nil {
		return fmt.Errorf("set watch error handler for %s: %w", what, err)
	}
	return nil
}

// Err reports the informers whose list or watch the API server refused
// within the last minute (a missing RBAC rule) and that have not listed or
// watched successfully since, or nil.
func (r *Refusals) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for what, rf := range r.refused {
		if r.now().Sub(rf.at) < refusedWindow && rf.informer.LastSyncResourceVersion() == rf.version {
			names = append(names, what)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("the API server refuses to let flinkgate list or watch %s; check its RBAC", strings.Join(names, ", "))
}
