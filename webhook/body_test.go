package webhook

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"flinkgate.io/flinkgate/internal/budget"
)

// TestReadBodyAllocatesWhatArrives: the declared Content-Length is the
// sender's word, so a pod that declares 6 MiB and sends a few bytes (or
// none, holding the connection) must not make flinkgate reserve 6 MiB.
func TestReadBodyAllocatesWhatArrives(t *testing.T) {
	const limit = 6 << 20
	cases := []struct {
		name      string
		declared  int64
		body      string
		want      string
		maxAlloc  uint64
		wantError bool
	}{
		{name: "A body shorter than its declared 6 MiB costs about what was sent.", declared: limit, body: "{}", want: "{}", maxAlloc: 256 << 10},
		{name: "A body of its declared length is read whole.", declared: 5, body: "hello", want: "hello", maxAlloc: 256 << 10},
		{name: "A body of unknown length is read whole.", declared: -1, body: strings.Repeat("x", 100_000), want: strings.Repeat("x", 100_000), maxAlloc: 1 << 20},
		{name: "A body over the limit is refused.", declared: -1, body: strings.Repeat("x", limit+1), wantError: true, maxAlloc: 64 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/mutate", io.NopCloser(bytes.NewReader([]byte(tc.body))))
			r.ContentLength = tc.declared
			var (
				got []byte
				err error
			)
			u := budget.Measure(func() { got, err = readBody(httptest.NewRecorder(), r, limit) })
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want error %t", err, tc.wantError)
			}
			if !tc.wantError && string(got) != tc.want {
				t.Errorf("read %d bytes, want %d", len(got), len(tc.want))
			}
			if u.Alloc > tc.maxAlloc {
				t.Errorf("reading allocated %d bytes, want at most %d", u.Alloc, tc.maxAlloc)
			}
		})
	}
}
