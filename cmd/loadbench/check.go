package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// unavailable is an answer saying flinkgate could not decide in time.
type unavailable struct{ error }

func (u unavailable) Unwrap() error { return u.error }

// answer is what the load tool reads of an AdmissionReview response.
type answer struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   *struct {
		UID       string  `json:"uid"`
		Allowed   bool    `json:"allowed"`
		PatchType *string `json:"patchType"`
		Patch     []byte  `json:"patch"`
		Result    *struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"status"`
	} `json:"response"`
}

// expectation says what a correct answer to the benchmark's review holds.
type expectation struct {
	uid string
	// patchContains lists byte strings the decoded JSON patch must contain;
	// empty means the answer must carry no patch (the bare server).
	patchContains [][]byte
	// denied, if set, is part of the message of the expected denial.
	denied string
}

// check reports why body is not a correct answer, or nil.
func (e expectation) check(body []byte) error {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	switch {
	case a.APIVersion != "admission.k8s.io/v1" || a.Kind != "AdmissionReview":
		return fmt.Errorf("the answer is %s %s, not an admission.k8s.io/v1 AdmissionReview", a.APIVersion, a.Kind)
	case a.Response == nil:
		return errors.New("the answer has no response")
	case a.Response.UID != e.uid:
		return fmt.Errorf("the answer's uid is %q, want %q", a.Response.UID, e.uid)
	case e.denied != "":
		if a.Response.Allowed || a.Response.Result == nil || !strings.Contains(a.Response.Result.Message, e.denied) {
			return fmt.Errorf("want a denial saying %q, got allowed=%v %+v", e.denied, a.Response.Allowed, a.Response.Result)
		}
		return nil
	case !a.Response.Allowed && a.Response.Result != nil && a.Response.Result.Code == http.StatusServiceUnavailable:
		// flinkgate could not ask the API server in time (an authorization
		// check on a loaded machine): a failure to count, not a wrong answer.
		return unavailable{fmt.Errorf("the request was not checked: %s", a.Response.Result.Message)}
	case !a.Response.Allowed:
		msg := ""
		if a.Response.Result != nil {
			msg = a.Response.Result.Message
		}
		return fmt.Errorf("the request was denied: %s", msg)
	}
	if len(e.patchContains) == 0 {
		if a.Response.Patch != nil {
			return errors.New("the answer carries an unexpected patch")
		}
		return nil
	}
	if a.Response.PatchType == nil || *a.Response.PatchType != "JSONPatch" || len(a.Response.Patch) == 0 {
		return errors.New("the answer carries no JSONPatch")
	}
	var ops []map[string]any
	if err := json.Unmarshal(a.Response.Patch, &ops); err != nil {
		return fmt.Errorf("the patch is not a JSON patch: %w", err)
	}
	for _, want := range e.patchContains {
		if !bytes.Contains(a.Response.Patch, want) {
			return fmt.Errorf("the patch lacks %s", want)
		}
	}
	return nil
}

// flinkgateAnswer is what flinkgate must answer to the deployment CREATE:
// the target label and the patched document with the last patch's value.
var flinkgateAnswer = [][]byte{
	[]byte(`"path":"/metadata/labels/flinkgate.io~1deployment-target","value":"staging"`),
	[]byte(`"path":"/metadata/annotations/flinkgate.io~1target-namespace","value":"staging"`),
	[]byte(`bench.key9: value-9`),
}
