package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshflow/meshflow/control"
	"github.com/meshflow/meshflow/spec"
	"github.com/meshflow/meshflow/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var staticFS embed.FS

// Authenticator names the principal who sent a request; auth.Authenticator is one.
type Authenticator interface {
	Authenticate(r *http.Request) (principal string, err error)
}

// Deps is what the pages need.
type Deps struct {
	// Store is the object store the mesh publishes to (the catalog).
	Store storage.Store
	// Mesh is the loaded mesh, for owners, stewards, glossary and lineage; may be nil.
	Mesh *spec.Set
	// Control reads runs and delivers decisions; nil hides runs and the inbox.
	Control *control.Client
	// Auth checks the bearer token a person signs in with; nil disables sign-in.
	Auth Authenticator
	// TemporalUI is the base URL of the Temporal Web UI for links to runs
	// (<ui>/namespaces/<ns>/workflows/<workflowID>/<runID>/history); "" shows no links.
	TemporalUI string
	// Logger receives errors and decisions; default slog.Default().
	Logger *slog.Logger
	// IndexTTL is how long the catalog index is used before it is rebuilt in the
	// background; default 15s.
	IndexTTL time.Duration
}

// sessionCookie holds the bearer token a person signed in with.
const sessionCookie = "meshflow_session"

// maxQueryLen bounds every query parameter.
const maxQueryLen = 200

type server struct {
	deps  Deps
	log   *slog.Logger
	pages map[string]*template.Template
	index *indexer
	// colors are the domains' colors.
	colors domainColors
	// csrfKey signs the per-session CSRF tokens; new for every process, so a
	// restart asks forms to be reloaded.
	csrfKey []byte
	mux     *http.ServeMux
}

// New returns the handler of the web pages. Mount it at "/".
func New(deps Deps) http.Handler {
	s := &server{deps: deps, log: deps.Logger, csrfKey: make([]byte, 32)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if _, err := rand.Read(s.csrfKey); err != nil {
		// crypto/rand does not fail on supported platforms.
		s.log.Error("web: no random CSRF key", "error", err)
	}
	ttl := deps.IndexTTL
	if ttl <= 0 {
		ttl = 15 * time.Second
	}
	s.index = &indexer{store: deps.Store, mesh: deps.Mesh, ttl: ttl, now: time.Now}
	var domains []string
	if deps.Mesh != nil && deps.Mesh.Mesh != nil {
		for _, d := range deps.Mesh.Mesh.Domains {
			domains = append(domains, d.Name)
		}
	}
	s.colors = newDomainColors(domains)
	s.pages = parsePages(funcs(s.colors))
	s.mux = http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	s.mux.HandleFunc("GET /{$}", s.catalogPage)
	s.mux.HandleFunc("GET /api/v1/products", s.productsAPI)
	s.mux.HandleFunc("GET /api/v1/products/{domain}/{name}", s.productAPI)
	s.mux.HandleFunc("GET /products/{domain}/{name}", s.productPage)
	s.mux.HandleFunc("GET /runs", s.runsPage)
	s.mux.HandleFunc("GET /inbox", s.inboxPage)
	s.mux.HandleFunc("POST /inbox/decide", s.decide)
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("POST /signout", s.signout)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "No page here", fmt.Sprintf("There is no page at %s.", r.URL.Path))
	})
	return s
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		h.ServeHTTP(w, r)
	})
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// parsePages parses every page together with the layout. The templates are
// embedded and checked by the tests, so a parse error is a programming error.
func parsePages(fm template.FuncMap) map[string]*template.Template {
	pages := map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "runtable" {
			continue
		}
		pages[base] = template.Must(template.New("layout.html").Funcs(fm).ParseFS(templateFS, "templates/layout.html", "templates/runtable.html", n))
	}
	return pages
}

// page is what the layout needs, around a page's own data.
type page struct {
	Title     string
	Principal string
	Nav       string
	CSRF      string
	// Refresh, when positive, reloads the page after that many seconds.
	Refresh int
	Data    any
}

// render writes a page; a template error is logged and answered with 500.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Principal == "" {
		p.Principal, _ = s.principal(r)
	}
	if p.Principal != "" {
		p.CSRF = s.csrfToken(r)
	}
	var buf bytes.Buffer
	t := s.pages[name]
	if t == nil {
		s.log.Error("web: no template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.Execute(&buf, p); err != nil {
		s.log.Error("web: render", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// fail renders an error page with a status.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	s.render(w, r, status, "error", page{Title: heading, Data: errorData{Status: status, Heading: heading, Message: msg}})
}

// failErr renders an error that came from a dependency, logged in full.
func (s *server) failErr(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	s.log.Error("web: "+what, "path", r.URL.Path, "error", err)
	s.fail(w, r, status, what, err.Error())
}

// query reads and checks the query parameters: at most maxQueryLen bytes of
// valid UTF-8 each, no parameter given twice.
func query(r *http.Request, names ...string) (map[string]string, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("the query string is malformed: %v", err)
	}
	out := map[string]string{}
	for _, n := range names {
		vals := v[n]
		if len(vals) > 1 {
			return nil, fmt.Errorf("%s is given %d times", n, len(vals))
		}
		if len(vals) == 1 {
			x := strings.TrimSpace(vals[0])
			if len(x) > maxQueryLen {
				return nil, fmt.Errorf("%s is longer than %d bytes", n, maxQueryLen)
			}
			if !validText(x) {
				return nil, fmt.Errorf("%s is not valid text", n)
			}
			out[n] = x
		}
	}
	return out, nil
}

func validText(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || (r < 0x20 && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}

// parseRef checks a "<domain>/<name>" reference.
func parseRef(ref string) (string, error) {
	d, n, ok := strings.Cut(ref, "/")
	if !ok || !spec.SafeName(d) || !spec.SafeName(n) {
		return "", fmt.Errorf("product %q: write <domain>/<name> with lower-case letters, digits and dashes", ref)
	}
	return ref, nil
}

// principal returns who is signed in, by checking the session's token with the
// authenticator; "" when nobody is.
func (s *server) principal(r *http.Request) (string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || s.deps.Auth == nil {
		return "", nil
	}
	return s.authenticate(r, c.Value)
}

// authenticate checks a bearer token with the authenticator, on a request that
// carries it as the API's requests do.
func (s *server) authenticate(r *http.Request, token string) (string, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	p, err := s.deps.Auth.Authenticate(req)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("the token names no principal")
	}
	return p, nil
}

// csrfToken is the session's CSRF token: an HMAC of the session token, so it is
// different for every session and needs no server state.
func (s *server) csrfToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("csrf\x00" + c.Value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkForm refuses a form post from another origin or without the session's
// CSRF token.
func (s *server) checkForm(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errors.New("the form was posted from another site")
		}
	}
	want := s.csrfToken(r)
	got := r.PostFormValue("csrf")
	if want == "" || !hmac.Equal([]byte(want), []byte(got)) {
		return errors.New("the form is stale or was not sent by this site; reload the page and try again")
	}
	return nil
}

// runURL links a run in the Temporal Web UI; "" without a UI.
func (s *server) runURL(workflowID, runID string) string {
	if s.deps.TemporalUI == "" || s.deps.Control == nil || workflowID == "" {
		return ""
	}
	u := strings.TrimSuffix(s.deps.TemporalUI, "/") + "/namespaces/" + url.PathEscape(s.deps.Control.Namespace) +
		"/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}
