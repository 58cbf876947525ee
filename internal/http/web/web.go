package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
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
	// Control reads runs; nil hides runs and the inbox.
	Control *control.Client
	// Decisions delivers the inbox's decisions by the rules of the API (package
	// api); meshflow serve passes the one its API uses, so that a decision is
	// decided and counted the same way from either. Nil: the inbox shows runs
	// but answers decisions 503.
	Decisions *api.Decisions
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
	// PublicURL is the address people reach the pages at, e.g.
	// "https://meshflow.example.com" behind a TLS-terminating proxy: when it is
	// https, cookies are Secure, and it is an origin forms may be posted from.
	// "" uses what each request says.
	PublicURL string
	// Now is the clock of sessions; default time.Now.
	Now func() time.Time
}

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
	// public is Deps.PublicURL parsed; nil without one.
	public   *url.URL
	sessions *sessions
	mux      *http.ServeMux
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
	if deps.PublicURL != "" {
		u, err := url.Parse(deps.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			s.log.Error("web: the public URL is not an http(s) URL; ignored", "url", deps.PublicURL)
		} else {
			s.public = u
		}
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	s.sessions = newSessions(now)
	ttl := deps.IndexTTL
	if ttl <= 0 {
		ttl = 15 * time.Second
	}
	s.index = &indexer{store: deps.Store, mesh: deps.Mesh, ttl: ttl, now: time.Now, log: s.log}
	var domains []string
	if deps.Mesh != nil && deps.Mesh.Mesh != nil {
		for _, d := range deps.Mesh.Mesh.Domains {
			domains = append(domains, d.Name)
		}
	}
	s.colors = newDomainColors(domains)
	s.pages = parsePages(funcs(s.colors))
	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.Handle(rt.pattern, s.gate(rt))
	}
	return s
}

// route is one entry of the route table. Every route says whether it is
// public: the others answer only a signed-in principal and answer anyone else
// 401 (a sign-in form on pages, a JSON error under /api/).
type route struct {
	pattern string
	public  bool
	h       http.Handler
}

// routes is the route table of the pages, the only place they are registered.
func (s *server) routes() []route {
	static, _ := fs.Sub(staticFS, "static")
	public := func(pattern string, h http.HandlerFunc) route { return route{pattern: pattern, public: true, h: h} }
	signedIn := func(pattern string, h http.HandlerFunc) route { return route{pattern: pattern, h: h} }
	return []route{
		{pattern: "GET /static/", public: true, h: http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static)))},
		// The catalog is public metadata; store locations show only to the signed in.
		public("GET /{$}", s.catalogPage),
		public(api.RouteProducts, s.productsAPI),
		public(api.RouteProduct, s.productAPI),
		public(api.RouteProductODPS, s.productODPS),
		public("GET /products/{domain}/{name}", s.productPage),
		public("GET /signin", s.signinPage),
		public("POST /signin", s.signin),
		// Runs name their submitters and carry failing rows: like /api/v1/runs,
		// they need a principal.
		signedIn("GET /runs", s.runsPage),
		signedIn("GET /inbox", s.inboxPage),
		signedIn("POST /inbox/decide", s.decide),
		signedIn("POST /signout", s.signout),
		public("/", func(w http.ResponseWriter, r *http.Request) {
			s.fail(w, r, http.StatusNotFound, "No page here", fmt.Sprintf("There is no page at %s.", r.URL.Path))
		}),
	}
}

// gate resolves the viewer of a request once and, on a route that is not
// public, answers 401 to anyone not signed in.
func (s *server) gate(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = s.withViewer(r)
		if !rt.public {
			if who, err := s.principal(r); who == "" {
				if strings.HasPrefix(r.URL.Path, "/api/") {
					api.Fail(w, http.StatusUnauthorized, api.CodeUnauthenticated, "sign in first")
					return
				}
				s.askSignin(w, r, err)
				return
			}
		}
		rt.h.ServeHTTP(w, r)
	})
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

// failErr renders an error that came from a dependency, logged in full. Only
// a signed-in viewer reads its words: a store's errors name its paths.
func (s *server) failErr(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	s.log.Error("web: "+what, "path", r.URL.Path, "error", err)
	s.fail(w, r, status, what, s.detail(r, err))
}

// detail is an error's text for a signed-in viewer, and a pointer to the log
// for anyone else.
func (s *server) detail(r *http.Request, err error) string {
	if who, _ := s.principal(r); who != "" {
		return err.Error()
	}
	return "The server's log has the details."
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

// validText is api.ValidText: one line of text without control characters.
func validText(s string) bool { return api.ValidText(s) }

// parseRef checks a "<domain>/<name>" reference.
func parseRef(ref string) (string, error) {
	d, n, ok := strings.Cut(ref, "/")
	if !ok || !spec.SafeName(d) || !spec.SafeName(n) {
		return "", fmt.Errorf("product %q: write <domain>/<name> with lower-case letters, digits and dashes", ref)
	}
	return ref, nil
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
