package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// OIDCConfig configures an OIDC authenticator. Issuer, Audience and JWKSURL are
// required; the rest have defaults.
type OIDCConfig struct {
	// Issuer is the expected "iss" claim, e.g. "https://login.example.com/".
	Issuer string
	// Audience must be one of the token's "aud" values: the client ID meshflow
	// is registered under at the provider.
	Audience string
	// JWKSURL is where the provider publishes its signing keys.
	JWKSURL string
	// Claim names the claim that identifies the principal. Default "email": its
	// value is matched against the principals' email in mesh.yaml, and only when
	// the token says "email_verified": true. Any other claim whose value looks like
	// an e-mail address (has an "@") is matched against the principals' email
	// only; other values are matched against the principals' names. An e-mail
	// never names a principal by its name.
	Claim string
	// Leeway is the clock skew allowed on exp, nbf and iat. Default one minute.
	Leeway time.Duration
	// FetchTimeout bounds one fetch of the JWKS. Default ten seconds.
	FetchTimeout time.Duration
	// MaxKeyAge is how long fetched keys are used before they are fetched again.
	// Default one hour.
	MaxKeyAge time.Duration
	// MinRefetch is the least time between two fetches of the JWKS caused by
	// tokens signed with an unknown key id, so that forged key ids cannot make
	// meshflow hammer the provider. Default ten seconds.
	MinRefetch time.Duration
	// HTTPClient fetches the JWKS; default http.DefaultClient.
	HTTPClient *http.Client
	// Now returns the current time; default time.Now. Tests inject a fake clock.
	Now func() time.Time
}

// DefaultClaim is the claim that names the principal when none is configured.
const DefaultClaim = "email"

// maxJWKSBytes bounds the size of a JWKS document.
const maxJWKSBytes = 1 << 20

func (c *OIDCConfig) defaults() {
	if c.Claim == "" {
		c.Claim = DefaultClaim
	}
	if c.Leeway == 0 {
		c.Leeway = time.Minute
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = 10 * time.Second
	}
	if c.MaxKeyAge == 0 {
		c.MaxKeyAge = time.Hour
	}
	if c.MinRefetch == 0 {
		c.MinRefetch = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing required setting.
func (c OIDCConfig) Validate() error {
	var missing []string
	if c.Issuer == "" {
		missing = append(missing, "issuer")
	}
	if c.Audience == "" {
		missing = append(missing, "audience")
	}
	if c.JWKSURL == "" {
		missing = append(missing, "JWKS URL")
	}
	if len(missing) > 0 {
		return fmt.Errorf("OIDC needs %s", strings.Join(missing, ", "))
	}
	if c.Leeway < 0 || c.FetchTimeout < 0 || c.MaxKeyAge < 0 || c.MinRefetch < 0 {
		return errors.New("OIDC durations cannot be negative")
	}
	return nil
}

// OIDC authenticates JWTs signed with RS256 or ES256 by an OpenID Connect
// provider.
type OIDC struct {
	cfg OIDCConfig
	// byEmail maps a lower-case email to a principal; byName holds the names.
	byEmail map[string]string
	byName  map[string]bool

	// mu guards the fields below. It is held only to read or replace them, never
	// while the JWKS is fetched, so that a slow or hanging provider delays only
	// the requests that need new keys.
	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time // zero before the first successful fetch
	triedAt   time.Time // last fetch attempt caused by an unknown key id
	inflight  *flight   // the fetch under way, nil when none is
}

// flight is one fetch of the JWKS that every request needing it waits for.
type flight struct {
	done chan struct{}
	err  error // set before done is closed
}

// algorithms are the signature algorithms meshflow accepts. HS256 and "none"
// are refused: a shared secret has no place between a provider and many services.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// NewOIDC returns an OIDC authenticator for the principals of a mesh. Teams are
// not principals one can log in as.
func NewOIDC(cfg OIDCConfig, principals []spec.Principal) (*OIDC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.defaults()
	o := &OIDC{cfg: cfg, byEmail: map[string]string{}, byName: map[string]bool{}}
	for _, p := range principals {
		if p.Kind == "team" {
			continue
		}
		o.byName[p.Name] = true
		if p.Email != "" {
			o.byEmail[strings.ToLower(p.Email)] = p.Name
		}
	}
	return o, nil
}

// Authenticate implements Authenticator.
func (o *OIDC) Authenticate(r *http.Request) (string, error) {
	raw, err := bearer(r)
	if err != nil {
		return "", err
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil {
		return "", fmt.Errorf("%w: not a JWT signed with RS256 or ES256: %v", ErrMalformedToken, err)
	}
	if len(tok.Headers) != 1 {
		return "", fmt.Errorf("%w: want one signature, found %d", ErrMalformedToken, len(tok.Headers))
	}
	kid := tok.Headers[0].KeyID
	keys, err := o.keysFor(r.Context(), kid)
	if err != nil {
		return "", err
	}
	var claims jwt.Claims
	var extra map[string]any
	verified := false
	for _, k := range keys {
		if err := tok.Claims(k.Key, &claims, &extra); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "", fmt.Errorf("%w: the token is not signed by key %q of %s", ErrBadSignature, kid, o.cfg.Issuer)
	}
	now := o.cfg.Now()
	if claims.Expiry == nil {
		return "", fmt.Errorf("%w: the token has no exp claim", ErrMalformedToken)
	}
	switch err := claims.ValidateWithLeeway(jwt.Expected{Issuer: o.cfg.Issuer, AnyAudience: jwt.Audience{o.cfg.Audience}, Time: now}, o.cfg.Leeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return "", fmt.Errorf("%w: issuer %q, want %q", ErrWrongIssuer, claims.Issuer, o.cfg.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return "", fmt.Errorf("%w: audience %q, want %q", ErrWrongAudience, []string(claims.Audience), o.cfg.Audience)
	case errors.Is(err, jwt.ErrExpired):
		return "", fmt.Errorf("%w at %s", ErrExpired, claims.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet):
		return "", fmt.Errorf("%w: not before %s", ErrNotYetValid, claims.NotBefore.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return "", fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, claims.IssuedAt.Time().UTC().Format(time.RFC3339))
	default:
		return "", fmt.Errorf("%w: %v", ErrMalformedToken, err)
	}
	return o.principal(extra)
}

// principal maps the identifying claim of a verified token to a principal.
func (o *OIDC) principal(claims map[string]any) (string, error) {
	v, ok := claims[o.cfg.Claim].(string)
	if !ok || v == "" {
		return "", fmt.Errorf("%w: the token has no %q claim", ErrUnknownPrincipal, o.cfg.Claim)
	}
	if o.cfg.Claim == "email" {
		// OIDC Core 5.1: email_verified is a JSON boolean. Without it the
		// provider vouches for nothing: anyone may have typed the address.
		if verified, _ := claims["email_verified"].(bool); !verified {
			return "", fmt.Errorf("%w: the token's email %q is not verified by %s (no \"email_verified\": true)", ErrUnverifiedEmail, v, o.cfg.Issuer)
		}
	}
	if o.cfg.Claim == "email" || strings.Contains(v, "@") {
		if p, ok := o.byEmail[strings.ToLower(v)]; ok {
			return p, nil
		}
		return "", fmt.Errorf("%w: no principal in mesh.yaml has the email %q (%s)", ErrUnknownPrincipal, v, o.cfg.Claim)
	}
	if o.byName[v] {
		return v, nil
	}
	return "", fmt.Errorf("%w: no principal in mesh.yaml is named %q (%s)", ErrUnknownPrincipal, v, o.cfg.Claim)
}

// keysFor returns the keys that may have signed a token with key id kid (every
// key when the token names none). Keys are fetched on first use, when they are
// older than MaxKeyAge, and when no key has the token's id (at most once per
// MinRefetch). A token whose key id is in a fresh set of keys never waits for a
// fetch, even while one is under way for another token.
func (o *OIDC) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	now := o.cfg.Now()
	o.mu.Lock()
	stale := o.fetchedAt.IsZero() || now.Sub(o.fetchedAt) > o.cfg.MaxKeyAge
	var keys []jose.JSONWebKey
	if !stale {
		keys = o.lookup(kid)
	}
	o.mu.Unlock()
	if len(keys) > 0 {
		return keys, nil
	}
	if stale {
		if err := o.fetch(ctx, now); err != nil {
			return nil, err
		}
		if keys := o.locked(kid); len(keys) > 0 {
			return keys, nil
		}
		return nil, fmt.Errorf("%w: no key %q in the JWKS of %s", ErrBadSignature, kid, o.cfg.Issuer)
	}
	o.mu.Lock()
	refetch := o.triedAt.IsZero() || now.Sub(o.triedAt) >= o.cfg.MinRefetch
	if refetch {
		o.triedAt = now
	}
	o.mu.Unlock()
	if refetch {
		if err := o.fetch(ctx, now); err != nil {
			return nil, err
		}
		if keys := o.locked(kid); len(keys) > 0 {
			return keys, nil
		}
	}
	return nil, fmt.Errorf("%w: no key %q in the JWKS of %s", ErrBadSignature, kid, o.cfg.Issuer)
}

// locked looks kid up under the lock.
func (o *OIDC) locked(kid string) []jose.JSONWebKey {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lookup(kid)
}

// lookup finds the keys of kid; the caller holds o.mu. The key set is replaced,
// never changed in place, so the slice returned stays valid after the unlock.
func (o *OIDC) lookup(kid string) []jose.JSONWebKey {
	if kid == "" {
		return o.keys.Keys
	}
	return o.keys.Key(kid)
}

// fetch reads the JWKS and installs its keys, without holding o.mu while it
// waits for the provider. Concurrent callers share one fetch: the first starts
// it, the others wait for its result (or for their own context to end).
func (o *OIDC) fetch(ctx context.Context, now time.Time) error {
	o.mu.Lock()
	if f := o.inflight; f != nil {
		o.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for the JWKS of %s: %v", ErrKeysUnavailable, o.cfg.Issuer, ctx.Err())
		}
	}
	f := &flight{done: make(chan struct{})}
	o.inflight = f
	o.mu.Unlock()

	// The fetch serves every waiter: it does not end with the request that
	// started it, only with FetchTimeout.
	set, err := o.download(context.WithoutCancel(ctx))
	o.mu.Lock()
	if err == nil {
		o.keys = set
		o.fetchedAt = now
	}
	o.inflight = nil
	f.err = err
	o.mu.Unlock()
	close(f.done)
	return err
}

// download reads the JWKS and keeps its public signing keys.
func (o *OIDC) download(ctx context.Context) (jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.cfg.JWKSURL, nil)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: fetch JWKS %s: %v", ErrKeysUnavailable, o.cfg.JWKSURL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: fetch JWKS %s: %v", ErrKeysUnavailable, o.cfg.JWKSURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: fetch JWKS %s: %s", ErrKeysUnavailable, o.cfg.JWKSURL, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: read JWKS %s: %v", ErrKeysUnavailable, o.cfg.JWKSURL, err)
	}
	var public []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			public = append(public, k)
		}
	}
	return jose.JSONWebKeySet{Keys: public}, nil
}
