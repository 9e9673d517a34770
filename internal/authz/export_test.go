package authz

// The external tests (package authz_test, which can use authztest.Fake)
// reach these internals through test-only names.

// CacheKey is cacheKey.
var CacheKey = cacheKey

// SetFlightJoined sets the hook c calls when a caller joins a question in
// flight.
func SetFlightJoined(c *Cached, f func()) { c.flightJoined = f }
