package auth

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/spec"
)

func TestNewTokenFormat(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != 46 || !wellFormed(tok) {
		t.Errorf("token %q is not mf_ and 43 base64url characters", tok)
	}
	if !spec.ValidTokenHash(hash) {
		t.Errorf("hash %q does not pass spec.ValidTokenHash", hash)
	}
	if hash != HashToken(tok) {
		t.Errorf("hash %q != HashToken(token) %q", hash, HashToken(tok))
	}
	other, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Error("two new tokens are equal")
	}
}

func TestTokens(t *testing.T) {
	maria, mariaHash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	omar, omarHash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	unknown, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := NewTokens([]spec.Principal{
		{Name: "maria.rossi", TokenHash: mariaHash},
		{Name: "omar.haddad", TokenHash: omarHash},
		{Name: "li.wei"}, // no token: cannot authenticate
	})
	if err != nil {
		t.Fatal(err)
	}
	if tokens.Len() != 2 {
		t.Errorf("Len() = %d, want 2", tokens.Len())
	}
	cases := []struct {
		name   string
		header string
		want   string
		err    error
		reason string
	}{
		{"maria's token", "Bearer " + maria, "maria.rossi", nil, ""},
		{"omar's token, lower-case scheme", "bearer " + omar, "omar.haddad", nil, ""},
		{"no header", "", "", ErrMissingHeader, "missing_header"},
		{"basic auth", "Basic bWFyaWE6cGFzcw==", "", ErrMalformedToken, "malformed_token"},
		{"empty bearer", "Bearer ", "", ErrMalformedToken, "malformed_token"},
		{"no prefix", "Bearer " + strings.TrimPrefix(maria, TokenPrefix), "", ErrMalformedToken, "malformed_token"},
		{"truncated", "Bearer " + maria[:40], "", ErrMalformedToken, "malformed_token"},
		{"not base64url", "Bearer mf_" + strings.Repeat("!", 43), "", ErrMalformedToken, "malformed_token"},
		{"forged: well formed, unknown", "Bearer " + unknown, "", ErrUnknownToken, "unknown_token"},
		{"the hash instead of the token", "Bearer " + mariaHash, "", ErrMalformedToken, "malformed_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/approvals", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, err := tokens.Authenticate(r)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("principal %q, want %q", got, tc.want)
			}
			if tc.err != nil && Reason(err) != tc.reason {
				t.Errorf("Reason = %q, want %q", Reason(err), tc.reason)
			}
		})
	}
}

func TestNewTokensRejectsBadHash(t *testing.T) {
	_, err := NewTokens([]spec.Principal{{Name: "maria.rossi", TokenHash: "sha256:xyz"}})
	if err == nil || !strings.Contains(err.Error(), "maria.rossi") {
		t.Fatalf("error %v, want one naming maria.rossi", err)
	}
}
