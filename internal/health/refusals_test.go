package health

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	toolscache "k8s.io/client-go/tools/cache"
)

// informer is a real shared informer over a fake client, never run: the
// tracker only reads its last synced resource version.
func informer(t *testing.T) toolscache.SharedIndexInformer {
	t.Helper()
	return informers.NewSharedInformerFactory(fake.NewClientset(), 0).Core().V1().ConfigMaps().Informer()
}

func TestARefusedWatchMakesFlinkgateUnready(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("rbac"))
	cases := []struct {
		name      string
		errs      []error
		advance   time.Duration
		wantReady bool
	}{
		{name: "an informer that was never refused is ready", wantReady: true},
		{name: "a transient watch error does not make it unready", errs: []error{errors.New("connection reset")}, wantReady: true},
		{name: "a forbidden watch makes it unready", errs: []error{forbidden}, wantReady: false},
		{name: "an unauthorized watch makes it unready", errs: []error{apierrors.NewUnauthorized("expired token")}, wantReady: false},
		{name: "a refusal that stops recurring is forgotten after a minute", errs: []error{forbidden}, advance: refusedWindow, wantReady: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRefusals()
			now := time.Now()
			r.now = func() time.Time { return now }
			var handler toolscache.WatchErrorHandlerWithContext
			inf := &capturing{SharedIndexInformer: informer(t), set: &handler}
			if err := r.Track("deployments in ns", inf); err != nil {
				t.Fatal(err)
			}
			for _, err := range tc.errs {
				handler(context.Background(), nil, err)
			}
			now = now.Add(tc.advance)
			if err := r.Err(); (err == nil) != tc.wantReady {
				t.Errorf("Err() = %v, want ready=%v", err, tc.wantReady)
			}
		})
	}
}

func TestARefusalFollowedByASuccessfulListIsForgotten(t *testing.T) {
	r := NewRefusals()
	inf := informer(t)
	// The informer's version has moved on since the refusal was recorded.
	r.refused["deployments in ns"] = refusal{at: r.now(), version: "an older version", informer: inf}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v after the informer listed again; want nil", err)
	}
	r.refused["deployments in ns"] = refusal{at: r.now(), version: inf.LastSyncResourceVersion(), informer: inf}
	if err := r.Err(); err == nil {
		t.Errorf("Err() = nil for a refusal at the informer's current version; want an error")
	}
}

// capturing hands the installed watch error handler to the test.
type capturing struct {
	toolscache.SharedIndexInformer
	set *toolscache.WatchErrorHandlerWithContext
}

func (c *capturing) SetWatchErrorHandlerWithContext(h toolscache.WatchErrorHandlerWithContext) error {
	*c.set = h
	return c.SharedIndexInformer.SetWatchErrorHandlerWithContext(h)
}
