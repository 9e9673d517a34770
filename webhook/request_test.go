package webhook

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// TestQueryValueIsURLQueryGet compares the timeout parameter's reader with
// url.Values.Get on the queries the API server sends and on odd ones.
func TestQueryValueIsURLQueryGet(t *testing.T) {
	cases := []struct{ name, query string }{
		{"a query without parameters has no timeout", ""},
		{"the API server's timeout is read", "timeout=10s"},
		{"the first of two timeouts is read", "timeout=1s&timeout=2s"},
		{"a timeout after other parameters is read", "a=b&c&timeout=3s"},
		{"a timeout without a value is empty", "timeout"},
		{"a timeout with an empty value is empty", "timeout=&timeout=4s"},
		{"an escaped timeout is unescaped", "timeout=1%30s"},
		{"an escaped key is unescaped", "time%6Fut=5s"},
		{"a plus is a space", "timeout=+6s"},
		{"a badly escaped pair is skipped", "timeout=%zz&timeout=7s"},
		{"a pair with a semicolon is skipped", "timeout=8s;x=y&timeout=9s"},
		{"empty pairs are skipped", "&&timeout=10s&"},
		{"a key that only starts like timeout does not count", "timeouts=1s&timeout_=2s"},
		{"a value with an equals sign keeps it", "timeout=1s=2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &url.URL{Path: "/mutate", RawQuery: tc.query}
			if got, want := queryValue(u, "timeout"), u.Query().Get("timeout"); got != want {
				t.Errorf("query %q: timeout %q, want url.Values' %q", tc.query, got, want)
			}
		})
	}
}

func FuzzQueryValue(f *testing.F) {
	for _, q := range []string{"", "timeout=10s", "a=b&timeout=1%30s", "timeout=1;2&timeout=3", "timeout=+1s"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		u := &url.URL{Path: "/mutate", RawQuery: query}
		if got, want := queryValue(u, "timeout"), u.Query().Get("timeout"); got != want {
			t.Errorf("query %q: timeout %q, want url.Values' %q", query, got, want)
		}
	})
}

// TestRequestContextEndsWithTheTimeoutOrTheRequest: the decision's context
// has the API server's deadline when it sends one, and is the request's own
// context (which ends with the connection) otherwise.
func TestRequestContextEndsWithTheTimeoutOrTheRequest(t *testing.T) {
	cases := []struct {
		name         string
		target       string
		wantDeadline bool
	}{
		{"the API server's timeout becomes a deadline", "/mutate?timeout=10s", true},
		{"without a timeout there is no deadline", "/mutate", false},
		{"a timeout that is not a duration is ignored", "/mutate?timeout=soon", false},
		{"a timeout of zero is ignored", "/mutate?timeout=0s", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tc.target, nil)
			ctx, cancel := requestContext(r)
			defer cancel()
			deadline, ok := ctx.Deadline()
			if ok != tc.wantDeadline {
				t.Fatalf("deadline %v (%v), want one: %v", deadline, ok, tc.wantDeadline)
			}
			if ok && time.Until(deadline) > 10*time.Second {
				t.Errorf("deadline %v is later than the timeout", deadline)
			}
		})
	}
}
