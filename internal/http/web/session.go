package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Sign-in keeps no credential in the browser. The bearer token a person signs
// in with stays on the server, in memory, under a random session id; the cookie
// holds only that id. Every request checks the token again with the
// authenticator (so an expired JWT ends the session), and sign-out forgets the
// session. Sessions end with the process: with several serve replicas, route a
// browser to one replica (sticky sessions) or ask people to sign in again.

const (
	// sessionCookie holds the id of a signed-in session.
	sessionCookie = "meshflow_session"
	// signinCookie holds the pre-session id the sign-in form's CSRF token is
	// bound to.
	signinCookie = "meshflow_signin"
	// sessionTTL is how long a session lasts at most.
	sessionTTL = 12 * time.Hour
	// signinTTL is how long a sign-in form stays usable.
	signinTTL = time.Hour
	// sessionIDBytes is the entropy of a session id.
	sessionIDBytes = 32
	// maxSessions bounds the sessions held; the oldest is dropped beyond it.
	maxSessions = 10000
)

// session is a signed-in browser.
type session struct {
	token   string
	expires time.Time
}

// sessions holds the sessions, by the SHA-256 of their id, so that what the
// server holds cannot be replayed as a cookie.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]session{}, now: now}
}

// newID returns a random id in unpadded base64url.
func newID() (string, error) {
	b := make([]byte, sessionIDBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// validID reports whether id has the shape of an id newID makes.
func validID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == sessionIDBytes
}

// create starts a session for token and returns its id.
func (ss *sessions) create(token string) (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var oldest [sha256.Size]byte
	var oldestAt time.Time
	for k, s := range ss.m {
		if !now.Before(s.expires) {
			delete(ss.m, k)
		} else if oldestAt.IsZero() || s.expires.Before(oldestAt) {
			oldest, oldestAt = k, s.expires
		}
	}
	if len(ss.m) >= maxSessions {
		delete(ss.m, oldest)
	}
	ss.m[sha256.Sum256([]byte(id))] = session{token: token, expires: now.Add(sessionTTL)}
	return id, nil
}

// get returns the token of a live session.
func (ss *sessions) get(id string) (string, bool) {
	if !validID(id) {
		return "", false
	}
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	if !ok {
		return "", false
	}
	if !ss.now().Before(s.expires) {
		delete(ss.m, k)
		return "", false
	}
	return s.token, true
}

// end forgets a session.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sha256.Sum256([]byte(id)))
}

// secure reports whether cookies must be Secure: the public URL is https, or
// the request came over TLS (directly, or through a proxy that says so; a
// client that lies about it only locks itself out).
func (s *server) secure(r *http.Request) bool {
	return (s.public != nil && s.public.Scheme == "https") || r.TLS != nil ||
		strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// setCookie sets an HttpOnly, SameSite=Strict cookie; maxAge < 0 deletes it.
func (s *server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
		MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// cookie returns the value of a request's cookie, "" without one.
func cookie(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// mac is an HMAC of the server's key over a purpose and a value, in base64url.
func (s *server) mac(purpose, value string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(purpose + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken is the session's CSRF token: an HMAC of the session id, so it is
// different for every session and needs no more server state.
func (s *server) csrfToken(r *http.Request) string {
	id := cookie(r, sessionCookie)
	if id == "" {
		return ""
	}
	return s.mac("csrf", id)
}

// signinToken returns the CSRF token of a sign-in form, bound to the browser's
// pre-session cookie, which it sets when the browser has none.
func (s *server) signinToken(w http.ResponseWriter, r *http.Request) string {
	pre := cookie(r, signinCookie)
	if !validID(pre) {
		var err error
		if pre, err = newID(); err != nil {
			s.log.Error("web: no random pre-session id", "error", err)
			return ""
		}
		s.setCookie(w, r, signinCookie, pre, "/signin", signinTTL)
	}
	return s.mac("signin", pre)
}

var (
	errCrossSite = errors.New("the form was posted from another site")
	errStaleForm = errors.New("the form is stale or was not sent by this site; reload the page and try again")
)

// sameOrigin refuses a request a browser says comes from another site: by
// Sec-Fetch-Site, and by an Origin other than this server's (as the request
// reached it, or its public URL). Requests that say neither (old browsers,
// scripts) are left to the CSRF token.
func (s *server) sameOrigin(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errCrossSite
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return errCrossSite // including "null": sandboxed frames, privacy redirects
	}
	if strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	if s.public != nil && strings.EqualFold(u.Scheme, s.public.Scheme) && strings.EqualFold(u.Host, s.public.Host) {
		return nil
	}
	return errCrossSite
}

// checkForm refuses a signed-in form post from another origin or without the
// session's CSRF token.
func (s *server) checkForm(r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	want := s.csrfToken(r)
	if want == "" || !hmac.Equal([]byte(want), []byte(r.PostFormValue("csrf"))) {
		return errStaleForm
	}
	return nil
}

// checkSignin refuses a sign-in post from another origin or without the token
// of the form this browser was given (login CSRF: another site signing the
// browser in as the attacker).
func (s *server) checkSignin(r *http.Request) error {
	if err := s.sameOrigin(r); err != nil {
		return err
	}
	pre := cookie(r, signinCookie)
	if !validID(pre) || !hmac.Equal([]byte(s.mac("signin", pre)), []byte(r.PostFormValue("csrf"))) {
		return errStaleForm
	}
	return nil
}

// viewerKey holds the viewer of a request in its context.
type viewerKey struct{}

type viewer struct {
	principal string
	err       error
}

// withViewer resolves who is signed in once per request.
func (s *server) withViewer(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(viewerKey{}).(viewer); ok {
		return r
	}
	p, err := s.signedIn(r)
	return r.WithContext(context.WithValue(r.Context(), viewerKey{}, viewer{p, err}))
}

// principal returns who is signed in; "" when nobody is, with an error when the
// session's token is no longer accepted.
func (s *server) principal(r *http.Request) (string, error) {
	if v, ok := r.Context().Value(viewerKey{}).(viewer); ok {
		return v.principal, v.err
	}
	return s.signedIn(r)
}

// signedIn checks the session's token with the authenticator.
func (s *server) signedIn(r *http.Request) (string, error) {
	id := cookie(r, sessionCookie)
	if id == "" || s.deps.Auth == nil {
		return "", nil
	}
	token, ok := s.sessions.get(id)
	if !ok {
		return "", errors.New("the session has ended")
	}
	return s.authenticate(r, token)
}

// safeNext keeps a redirect target on this site: a path that starts with one
// "/" (not "//" or "/\"), without scheme, host or user, and without control
// characters or backslashes, also once decoded (browsers drop tabs and
// newlines: "/\t/evil.example" is "//evil.example" to them). Anything else is "/".
func safeNext(next string) string {
	const fallback = "/"
	if next == "" || len(next) > maxQueryLen || !strings.HasPrefix(next, "/") || strings.Contains(next, " ") || unsafeChars(next) {
		return fallback
	}
	decoded, err := url.PathUnescape(next)
	if err != nil || unsafeChars(decoded) || !strings.HasPrefix(decoded, "/") ||
		strings.HasPrefix(decoded, "//") || strings.HasPrefix(decoded, "/\\") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	return next
}

// unsafeChars reports control characters, backslashes and invalid UTF-8.
func unsafeChars(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '\uFFFD' || (r >= 0x80 && r <= 0x9f) {
			return true
		}
	}
	return false
}
