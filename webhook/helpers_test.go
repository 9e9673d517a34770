package webhook

import (
	"net/http/httptest"
	"testing"

	"flinkgate.io/flinkgate/rbac"
)

// connServer serves a test Server whose connections keep their buffers,
// as flinkgate serve's webhook listener does; the Server answers alone too.
func connServer(t testing.TB, lookup Lookup) (*Server, *httptest.Server) {
	t.Helper()
	s, _ := newTestServer(t, lookup, nil, rbac.ModeOff)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.ConnContext = s.ConnContext
	srv.Config.ConnState = s.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv
}
