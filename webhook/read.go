package webhook

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"flinkgate.io/flinkgate/webhook/internal/wire"
)

// This file reads a review's body, into its connection's buffer when it
// has one, and decodes it (webhook/internal/wire).

// decodeRequest reads and decodes the review; it also returns the body,
// whose bytes the review does not use.
func decodeRequest(w http.ResponseWriter, r *http.Request, limit int64) (*wire.Review, []byte, error) {
	if r.Method != http.MethodPost {
		return nil, nil, &httpError{http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed; send the AdmissionReview with POST", r.Method)}
	}
	// The API server's exact content type needs no parsing.
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, nil, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not supported; send application/json", ct)}
		}
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit)}
		}
		return nil, nil, &httpError{http.StatusBadRequest, fmt.Sprintf("read request body: %v", err)}
	}
	rv, err := wire.DecodeReview(body)
	return rv, body, err
}

// readBody reads at most limit bytes. A declared length up to
// maxPresizedBody sizes the buffer at once (the API server always declares
// it, and reviews are a few KiB); beyond that the buffer grows with what
// actually arrives, since the declaration is the sender's word and any pod
// can open a connection declaring the limit and send nothing. On a
// connection from ConnContext the buffer is the connection's, kept for its
// next request when it is at most maxConnBuffer.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	size := int64(512)
	if n := r.ContentLength; n > 0 {
		size = min(n+1, maxPresizedBody) // a spare byte reads the EOF without a grow
	}
	cb := connBufferOf(r)
	var buf []byte
	if cb != nil && int64(cap(cb.buf)) >= size {
		buf = cb.buf[:0]
	} else {
		buf = make([]byte, 0, size)
	}
	buf, err := readAll(body, buf)
	if cb != nil && err == nil {
		cb.keep(&cb.buf, buf)
	}
	return buf, err
}

// readAll appends what r sends to buf until EOF.
func readAll(body io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grows as the bytes arrive
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// maxPresizedBody bounds what a declared Content-Length reserves before the
// bytes arrive.
const maxPresizedBody = 64 << 10
