package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// TokenPrefix starts every meshflow API token, so that leaked tokens are easy to
// recognise (secret scanners, logs).
const TokenPrefix = "mf_"

// tokenBytes is the entropy of a token.
const tokenBytes = 32

// tokenLen is the length of a token: the prefix and 32 bytes in unpadded base64url.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a new random API token and its hash as mesh.yaml stores it.
func NewToken() (token, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("read random bytes for a token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the tokenHash of a token: "sha256:" and the hex SHA-256 of the
// token's text.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return spec.TokenHashPrefix + hex.EncodeToString(sum[:])
}

// Tokens authenticates bearer tokens against the tokenHash of the mesh's
// principals. Only hashes are held; hashes are compared in constant time, and
// every principal's hash is compared on every request.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	principal string
	sum       [sha256.Size]byte
}

// NewTokens builds a Tokens from the principals of a mesh; principals without a
// tokenHash cannot authenticate with a token.
func NewTokens(principals []spec.Principal) (*Tokens, error) {
	t := &Tokens{}
	for _, p := range principals {
		if p.TokenHash == "" {
			continue
		}
		if !spec.ValidTokenHash(p.TokenHash) {
			return nil, fmt.Errorf("read tokenHash of %s: want sha256:<64 lower-case hex digits>", p.Name)
		}
		var e tokenEntry
		e.principal = p.Name
		if _, err := hex.Decode(e.sum[:], []byte(strings.TrimPrefix(p.TokenHash, spec.TokenHashPrefix))); err != nil {
			return nil, fmt.Errorf("read tokenHash of %s: %w", p.Name, err)
		}
		t.entries = append(t.entries, e)
	}
	return t, nil
}

// Len returns how many principals have a token.
func (t *Tokens) Len() int { return len(t.entries) }

// Authenticate implements Authenticator.
func (t *Tokens) Authenticate(r *http.Request) (string, error) {
	token, err := bearer(r)
	if err != nil {
		return "", err
	}
	if !wellFormed(token) {
		return "", fmt.Errorf("%w: meshflow tokens are %q followed by 43 base64url characters (make one with `meshflow token new <principal>`)", ErrMalformedToken, TokenPrefix)
	}
	sum := sha256.Sum256([]byte(token))
	found := ""
	for _, e := range t.entries {
		// No early exit: every request compares every hash.
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found = e.principal
		}
	}
	if found == "" {
		return "", fmt.Errorf("%w: no principal in mesh.yaml has this token's hash", ErrUnknownToken)
	}
	return found, nil
}

func wellFormed(token string) bool {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok || len(token) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}
