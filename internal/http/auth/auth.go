package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Authenticator names the principal who sent a request.
type Authenticator interface {
	// Authenticate returns the name of the principal (as in mesh.yaml) who sent r,
	// or an error that wraps one of the Err… values of this package.
	Authenticate(r *http.Request) (principal string, err error)
}

// The reasons authentication fails. Errors returned by Authenticate wrap one of
// them; Reason turns them into a short label for metrics and API error codes.
var (
	ErrMissingHeader    = errors.New("no Authorization: Bearer header")
	ErrMalformedToken   = errors.New("malformed token")
	ErrUnknownToken     = errors.New("unknown token")
	ErrBadSignature     = errors.New("bad token signature")
	ErrExpired          = errors.New("token expired")
	ErrNotYetValid      = errors.New("token not valid yet")
	ErrWrongIssuer      = errors.New("token from the wrong issuer")
	ErrWrongAudience    = errors.New("token for another audience")
	ErrUnknownPrincipal = errors.New("token names no principal of the mesh")
	// ErrUnverifiedEmail says that an OIDC token's email is not marked verified
	// by the provider, so it cannot name a principal.
	ErrUnverifiedEmail = errors.New("token's email is not verified")
	// ErrKeysUnavailable says that the identity provider's keys could not be
	// fetched: the caller may be fine, meshflow cannot tell.
	ErrKeysUnavailable = errors.New("identity provider keys unavailable")
)

var reasons = []struct {
	err    error
	reason string
}{
	{ErrMissingHeader, "missing_header"},
	{ErrMalformedToken, "malformed_token"},
	{ErrUnknownToken, "unknown_token"},
	{ErrBadSignature, "bad_signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrWrongIssuer, "wrong_issuer"},
	{ErrWrongAudience, "wrong_audience"},
	{ErrUnknownPrincipal, "unknown_principal"},
	{ErrUnverifiedEmail, "unverified_email"},
	{ErrKeysUnavailable, "keys_unavailable"},
}

// Reason returns a short, stable label for an authentication error
// ("missing_header", "expired", …), or "unauthenticated" for any other error.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "unauthenticated"
}

// bearer returns the token of the request's Authorization header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrMissingHeader
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrMalformedToken)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("%w: the bearer token is empty", ErrMalformedToken)
	}
	return token, nil
}
