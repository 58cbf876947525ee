package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

// MaxBodyBytes bounds the body of a request.
const MaxBodyBytes = 64 << 10

// The error codes the server packages answer with more than once.
const (
	CodeBadJSON         = "bad_json"
	CodeUnknownField    = "unknown_field"
	CodeMissingField    = "missing_field"
	CodeBadRequest      = "bad_request"
	CodeTooLarge        = "too_large"
	CodeUnauthenticated = "unauthenticated"
	CodeRefused         = "refused"
	CodeNotFound        = "not_found"
	CodeUnknownRun      = "unknown_run"
	CodeNotWaiting      = "not_waiting"
	CodeTemporal        = "temporal"
	CodeNoSigner        = "no_signer"
)

// Error is an error answered by the API: the JSON body of every error answer,
// and the error the Go client returns for one.
type Error struct {
	// Status is the HTTP status; it is not part of the body.
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

// Errorf returns an Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d, %s)", e.Message, e.Status, e.Code)
}

// WriteJSON answers v as JSON with a status. Answers are never cached: they
// carry runs, grants and principals.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers e.
func WriteError(w http.ResponseWriter, e *Error) {
	WriteJSON(w, e.Status, e)
}

// Fail answers an error with a status, a code and a message.
func Fail(w http.ResponseWriter, status int, code, msg string) {
	WriteError(w, &Error{Status: status, Code: code, Message: msg})
}

// DecodeStrict decodes one JSON object of at most MaxBodyBytes without unknown
// fields into v, so that a body cannot name a principal. It answers nothing
// itself: the Error is 413 too_large, 400 unknown_field or 400 bad_json.
func DecodeStrict(w http.ResponseWriter, r *http.Request, v any) *Error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		return nil
	}
	if _, big := errors.AsType[*http.MaxBytesError](err); big {
		return Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "the body is larger than %d KiB", MaxBodyBytes>>10)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return Errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %s (the principal is who you authenticate as)", field)
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeBadJSON, Message: err.Error()}
}

// ControlError maps the error of a control.Client call made for action to the
// answer: 404 not_found for a workflow that does not exist or an access request
// that is not pending, 403 refused when the workflow's validator refused the
// caller, 500 no_signer when the server cannot sign, and 502 temporal for
// anything else (Temporal unreachable or failing). Decisions refine it for
// refresh runs.
func ControlError(action string, err error) *Error {
	switch {
	case IsNotFound(err), errors.Is(err, control.ErrNoAccessPending), errors.Is(err, control.ErrNothingPending):
		return Errorf(http.StatusNotFound, CodeNotFound, "%s: %v", action, err)
	case errors.Is(err, control.ErrNoSigner):
		return Errorf(http.StatusInternalServerError, CodeNoSigner, "%s: %v", action, err)
	}
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		return &Error{Status: http.StatusForbidden, Code: CodeRefused, Message: appErr.Message()}
	}
	return Errorf(http.StatusBadGateway, CodeTemporal, "%s: %v", action, err)
}

// IsNotFound reports whether err says that a workflow does not exist.
func IsNotFound(err error) bool {
	_, ok := errors.AsType[*serviceerror.NotFound](err)
	return ok
}

// ValidText reports whether s is text a person wrote on one line: valid UTF-8
// without control characters other than tab.
func ValidText(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}
