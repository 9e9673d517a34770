package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"flinkgate.io/flinkgate/internal/cache"
)

// bareHandler is the yardstick: it decodes the AdmissionReview as any Go
// webhook would and answers "allowed", nothing else. It counts the reviews
// it answered, which GET /count tells, so that a caller can see the API
// server calling it.
//
// Under /read/ it is the second yardstick, the pair that does in no time
// the work flinkgate makes the API server do: its mutating call of a
// CREATE answers with the JSON patch set by PUT /read/patch (loadbench
// sets one that stores what flinkgate stores), and its validating call of
// a CREATE first makes the consistent GET that in-use protection needs
// (the target ConfigMap of the review's namespace, with flinkgate's own
// live client; GET /reads counts them). What flinkgate adds beyond that
// work then shows. A failed read denies, so that a measurement cannot pass
// without it.
func bareHandler(reads kubernetes.Interface) http.Handler {
	var answered, read atomic.Int64
	var patch atomic.Pointer[[]byte]
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /read/patch", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			_, err = jsonpatch.DecodePatch(b)
		}
		if err != nil {
			http.Error(w, "not a JSON patch: "+err.Error(), http.StatusBadRequest)
			return
		}
		patch.Store(&b)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintf(w, "%d\n", answered.Load()) })
	mux.HandleFunc("GET /reads", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintf(w, "%d\n", read.Load()) })
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 6<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		create := review.Request.Operation == admissionv1.Create
		if p := patch.Load(); p != nil && create && r.URL.Path == "/read/mutate" {
			resp.Patch, resp.PatchType = *p, new(admissionv1.PatchTypeJSONPatch)
		}
		if create && r.URL.Path == "/read/validate" {
			if reads == nil {
				http.Error(w, "started without --kubeconfig: cannot read", http.StatusInternalServerError)
				return
			}
			if _, err := reads.CoreV1().ConfigMaps(review.Request.Namespace).Get(r.Context(), targetName, metav1.GetOptions{}); err != nil {
				resp.Allowed, resp.Result = false, &metav1.Status{Message: "read the target: " + err.Error()}
			}
			read.Add(1)
		}
		out, err := json.Marshal(&admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Response: resp,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		answered.Add(1)
	})
	return mux
}

// runBare serves bareHandler over TLS until ctx ends: the `loadbench bare`
// subcommand, run as its own process like flinkgate. It speaks HTTP/1.1
// only, as flinkgate's webhook port does, so both are measured on the same
// protocol (see newClient).
func runBare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9443", "TLS listener")
	certDir := fs.String("cert-dir", "", "directory with tls.crt and tls.key")
	kubeconfig := fs.String("kubeconfig", "", "identity for the reads under /read/ (flinkgate's, so that both reads cost the API server the same)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var reads kubernetes.Interface
	if *kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
		if err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
		// flinkgate's own live client: no rate limit, the same encoding.
		clients, err := cache.ClientsFor(cfg)
		if err != nil {
			return err
		}
		reads = clients.LiveClient
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*certDir, "tls.crt"), filepath.Join(*certDir, "tls.key"))
	if err != nil {
		return fmt.Errorf("load serving certificate: %w", err)
	}
	srv := &http.Server{
		Addr: *addr, Handler: bareHandler(reads), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		// A non-nil empty TLSNextProto turns HTTP/2 off, as in flinkgate serve.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
