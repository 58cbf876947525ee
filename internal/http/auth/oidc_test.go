package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

const (
	testIssuer   = "https://login.acme.example/"
	testAudience = "meshflow"
)

var testPrincipals = []spec.Principal{
	{Name: "maria.rossi", Email: "maria.rossi@acme.example"},
	{Name: "omar.haddad", Email: "omar.haddad@acme.example"},
	{Name: "finance-data", Kind: "team", Members: []string{"maria.rossi"}},
}

// jwks is a test identity provider's key endpoint: it serves the public halves
// of its keys and counts fetches.
type jwks struct {
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches int
	fail    bool
}

func (j *jwks) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.fetches++
	if j.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: j.keys})
}

func (j *jwks) add(k jose.JSONWebKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = append(j.keys, k.Public())
}

func (j *jwks) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.fetches
}

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func rsaKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
}

func ecKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
}

// sign makes a JWT with the given key and claims.
func sign(t *testing.T, k jose.JSONWebKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.KeyID != "" {
		opts = opts.WithHeader("kid", k.KeyID)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/api/v1/approvals", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestOIDC(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	now := clock.t
	rs := rsaKey(t, "rs-1")
	es := ecKey(t, "es-1")
	stranger := rsaKey(t, "rs-1") // same kid as rs, another key: a forgery
	hmacKey := jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "rs-1"}

	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": testIssuer, "aud": testAudience, "sub": "00u1",
			"email": "Maria.Rossi@acme.example", "email_verified": true, "preferred_username": "omar.haddad",
			"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	cases := []struct {
		name   string
		claim  string
		token  func() string
		header string // when set, sent as is instead of "Bearer <token>"
		want   string
		err    error
	}{
		{name: "RS256, email mapped case-insensitively", token: func() string { return sign(t, rs, jose.RS256, claims(nil)) }, want: "maria.rossi"},
		{name: "ES256", token: func() string { return sign(t, es, jose.ES256, claims(nil)) }, want: "maria.rossi"},
		{name: "claim mapped by principal name", claim: "preferred_username",
			token: func() string { return sign(t, rs, jose.RS256, claims(nil)) }, want: "omar.haddad"},
		{name: "audience list containing ours", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["aud"] = []string{"other", testAudience} }))
		}, want: "maria.rossi"},
		{name: "expired within the leeway", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }))
		}, want: "maria.rossi"},
		{name: "missing header", token: func() string { return "" }, err: ErrMissingHeader},
		{name: "not a bearer token", header: "Basic bWFyaWE6cGFzcw==", err: ErrMalformedToken},
		{name: "not a JWT", token: func() string { return "mf_not-a-jwt" }, err: ErrMalformedToken},
		{name: "HS256 refused", token: func() string { return sign(t, hmacKey, jose.HS256, claims(nil)) }, err: ErrMalformedToken},
		{name: "forged: same kid, other key", token: func() string { return sign(t, stranger, jose.RS256, claims(nil)) }, err: ErrBadSignature},
		{name: "unknown kid", token: func() string {
			k := stranger
			k.KeyID = "nobody"
			return sign(t, k, jose.RS256, claims(nil))
		}, err: ErrBadSignature},
		{name: "expired", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))
		}, err: ErrExpired},
		{name: "no exp", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { delete(c, "exp") }))
		}, err: ErrMalformedToken},
		{name: "not valid yet", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }))
		}, err: ErrNotYetValid},
		{name: "wrong issuer", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["iss"] = "https://evil.example/" }))
		}, err: ErrWrongIssuer},
		{name: "wrong audience", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["aud"] = "another-app" }))
		}, err: ErrWrongAudience},
		{name: "unknown principal", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["email"] = "eve@acme.example" }))
		}, err: ErrUnknownPrincipal},
		{name: "claim missing", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { delete(c, "email") }))
		}, err: ErrUnknownPrincipal},
		{name: "email not marked verified", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { delete(c, "email_verified") }))
		}, err: ErrUnverifiedEmail},
		{name: "email_verified false", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["email_verified"] = false }))
		}, err: ErrUnverifiedEmail},
		{name: "email_verified a string, not the boolean", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["email_verified"] = "true" }))
		}, err: ErrUnverifiedEmail},
		{name: "an email claim never matches a principal's name", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["email"] = "maria.rossi" }))
		}, err: ErrUnknownPrincipal},
		{name: "another claim holding an address matches emails", claim: "preferred_username", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["preferred_username"] = "omar.haddad@acme.example" }))
		}, want: "omar.haddad"},
		{name: "another claim holding an address never matches a name", claim: "upn", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["upn"] = "maria.rossi@evil.example" }))
		}, err: ErrUnknownPrincipal},
		{name: "a team is not a login", claim: "sub", token: func() string {
			return sign(t, rs, jose.RS256, claims(func(c map[string]any) { c["sub"] = "finance-data" }))
		}, err: ErrUnknownPrincipal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp := &jwks{}
			idp.add(rs)
			idp.add(es)
			srv := httptest.NewServer(idp)
			defer srv.Close()
			o, err := NewOIDC(OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Claim: tc.claim, Now: clock.now}, testPrincipals)
			if err != nil {
				t.Fatal(err)
			}
			r := bearerRequest("")
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			} else if tok := tc.token(); tok != "" {
				r = bearerRequest(tok)
			}
			got, err := o.Authenticate(r)
			if tc.err == nil && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("principal %q, want %q", got, tc.want)
			}
		})
	}
}

func TestOIDCKeyCacheAndRotation(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	old, rotated := rsaKey(t, "2026-11"), ecKey(t, "2026-12")
	idp := &jwks{}
	idp.add(old)
	srv := httptest.NewServer(idp)
	defer srv.Close()
	o, err := NewOIDC(OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL, Now: clock.now,
		MinRefetch: time.Minute, MaxKeyAge: time.Hour}, testPrincipals)
	if err != nil {
		t.Fatal(err)
	}
	tokenBy := func(k jose.JSONWebKey, alg jose.SignatureAlgorithm) string {
		return sign(t, k, alg, map[string]any{"iss": testIssuer, "aud": testAudience, "email": "omar.haddad@acme.example", "email_verified": true,
			"exp": clock.t.Add(time.Hour).Unix()})
	}
	authenticate := func(tok string) (string, error) { return o.Authenticate(bearerRequest(tok)) }

	for range 3 {
		if p, err := authenticate(tokenBy(old, jose.RS256)); err != nil || p != "omar.haddad" {
			t.Fatalf("old key: %q, %v", p, err)
		}
	}
	if n := idp.count(); n != 1 {
		t.Errorf("%d JWKS fetches for three tokens with a known key, want 1", n)
	}

	// The provider rotates: a token with the new kid makes meshflow fetch again.
	idp.add(rotated)
	if p, err := authenticate(tokenBy(rotated, jose.ES256)); err != nil || p != "omar.haddad" {
		t.Fatalf("rotated key: %q, %v", p, err)
	}
	if n := idp.count(); n != 2 {
		t.Errorf("%d JWKS fetches after an unknown kid, want 2", n)
	}

	// Forged kids cannot make meshflow fetch more than once per MinRefetch: the
	// last refetch was just now.
	forged := rsaKey(t, "forged")
	for range 3 {
		if _, err := authenticate(tokenBy(forged, jose.RS256)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged kid: %v, want ErrBadSignature", err)
		}
	}
	if n := idp.count(); n != 2 {
		t.Errorf("%d JWKS fetches after three forged kids within MinRefetch, want still 2", n)
	}
	clock.t = clock.t.Add(2 * time.Minute)
	if _, err := authenticate(tokenBy(forged, jose.RS256)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged kid: %v, want ErrBadSignature", err)
	}
	if n := idp.count(); n != 3 {
		t.Errorf("%d JWKS fetches after MinRefetch passed, want 3", n)
	}

	// Keys older than MaxKeyAge are fetched again; a provider that is down is
	// reported as such, not as a bad token.
	clock.t = clock.t.Add(2 * time.Hour)
	idp.mu.Lock()
	idp.fail = true
	idp.mu.Unlock()
	_, err = authenticate(tokenBy(old, jose.RS256))
	if !errors.Is(err, ErrKeysUnavailable) || Reason(err) != "keys_unavailable" {
		t.Fatalf("provider down: %v, want ErrKeysUnavailable", err)
	}
}

// TestOIDCFetchDoesNotBlockKnownKeys holds a JWKS fetch (caused by a token with
// an unknown key id) open at the provider and checks that a token signed with a
// known key is authenticated meanwhile: the fetch holds no lock that every
// authentication takes.
func TestOIDCFetchDoesNotBlockKnownKeys(t *testing.T) {
	known := rsaKey(t, "known")
	idp := &jwks{}
	idp.add(known)
	held, release := make(chan struct{}), make(chan struct{})
	var holdNext atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if holdNext.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
		idp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock()
	o, err := NewOIDC(OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL}, testPrincipals)
	if err != nil {
		t.Fatal(err)
	}
	tokenBy := func(k jose.JSONWebKey) string {
		return sign(t, k, jose.RS256, map[string]any{"iss": testIssuer, "aud": testAudience, "email": "omar.haddad@acme.example",
			"email_verified": true, "exp": time.Now().Add(time.Hour).Unix()})
	}
	if p, err := o.Authenticate(bearerRequest(tokenBy(known))); err != nil || p != "omar.haddad" {
		t.Fatalf("first token: %q, %v", p, err)
	}

	holdNext.Store(true)
	unknown := tokenBy(rsaKey(t, "unknown"))
	errc := make(chan error, 1)
	go func() {
		_, err := o.Authenticate(bearerRequest(unknown))
		errc <- err
	}()
	<-held // the provider has the fetch and holds it open

	done := make(chan error, 1)
	go func() {
		_, err := o.Authenticate(bearerRequest(tokenBy(known)))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("known key during a fetch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a token with a known key id waited for a JWKS fetch")
	}
	unblock()
	if err := <-errc; !errors.Is(err, ErrBadSignature) {
		t.Errorf("unknown kid: %v, want ErrBadSignature", err)
	}
	if n := idp.count(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2", n)
	}
}

// TestOIDCConcurrentFetchesShareOne starts several authentications on a cold
// cache at once: they share one fetch of the JWKS.
func TestOIDCConcurrentFetchesShareOne(t *testing.T) {
	k := rsaKey(t, "k")
	idp := &jwks{}
	idp.add(k)
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		idp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	o, err := NewOIDC(OIDCConfig{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL}, testPrincipals)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, k, jose.RS256, map[string]any{"iss": testIssuer, "aud": testAudience, "email": "omar.haddad@acme.example",
		"email_verified": true, "exp": time.Now().Add(time.Hour).Unix()})
	const n = 8
	errc := make(chan error, n)
	for range n {
		go func() {
			_, err := o.Authenticate(bearerRequest(tok))
			errc <- err
		}()
	}
	// Let every goroutine reach the fetch before the provider answers.
	time.Sleep(200 * time.Millisecond)
	close(gate)
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if c := idp.count(); c != 1 {
		t.Errorf("%d JWKS fetches for %d concurrent requests on a cold cache, want 1", c, n)
	}
}

func TestOIDCConfigValidate(t *testing.T) {
	_, err := NewOIDC(OIDCConfig{Issuer: testIssuer}, nil)
	if err == nil || err.Error() != "OIDC needs audience, JWKS URL" {
		t.Fatalf("error %v, want \"OIDC needs audience, JWKS URL\"", err)
	}
}
