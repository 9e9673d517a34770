// Package authztest holds an Authorizer for tests, kept out of the
// production package authz.
package authztest

import (
	"context"
	"sync"

	"flinkgate.io/flinkgate/internal/authz"
)

// Fake is an authz.Authorizer for tests: it allows exactly the (user, namespace,
// check) triples it was given, or fails every question with Err. It counts
// the questions it is asked.
type Fake struct {
	// Err, when set, is returned for every question.
	Err error

	mu    sync.Mutex
	grant map[fakeKey]bool
	asked int
}

type fakeKey struct {
	user, namespace string
	check           authz.Check
}

// Grant allows user to do check in namespace.
func (f *Fake) Grant(user, namespace string, check authz.Check) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.grant == nil {
		f.grant = map[fakeKey]bool{}
	}
	f.grant[fakeKey{user, namespace, check}] = true
	return f
}

// Revoke takes back a grant of check to user in namespace.
func (f *Fake) Revoke(user, namespace string, check authz.Check) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.grant, fakeKey{user, namespace, check})
	return f
}

// Allowed implements authz.Authorizer.
func (f *Fake) Allowed(_ context.Context, a authz.Attributes) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.Err != nil {
		return false, f.Err
	}
	return f.grant[fakeKey{a.User.Name, a.Namespace, a.Check}], nil
}

// Asked is the number of questions asked so far.
func (f *Fake) Asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}
