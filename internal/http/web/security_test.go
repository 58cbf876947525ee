package web

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/store/storage"
)

// openRedirects are sign-in targets that would take a browser to another site
// (or run script), each of which must end on "/".
var openRedirects = []string{
	"//evil.example",
	"//evil.example/inbox",
	"/\\evil.example",
	"\\\\evil.example",
	"/\\/evil.example",
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r/evil.example",
	"/%09/evil.example",
	"/%0a/evil.example",
	"/%0d/evil.example",
	"/%0D%0A/evil.example",
	"/%00/evil.example",
	"/%7f/evil.example",
	"/%2F%2Fevil.example",
	"/%2fevil.example",
	"/%5Cevil.example",
	"/%5C%5Cevil.example",
	"%2F%2Fevil.example",
	"https://evil.example",
	"https:evil.example",
	"http://evil.example/",
	"HTTPS://evil.example",
	"javascript:alert(1)",
	"JavaScript:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	"evil.example",
	" //evil.example",
	"/ /evil.example",
	"///evil.example",
	"/%",
	"",
}

func TestSafeNext(t *testing.T) {
	for _, next := range openRedirects {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	for _, next := range []string{"/", "/inbox", "/runs?product=finance/kpis", "/products/finance/kpis#versions", "/?q=net%20revenue&domain=finance"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

// TestSigninNextStaysOnSite follows the sign-in flow as a browser does, from
// /signin?next=<vector>: the form carries the target, the sign-in redirects to
// it, and the redirect never leaves the site.
func TestSigninNextStaysOnSite(t *testing.T) {
	srv, _ := newTestServer(t)
	pre, csrf := signinForm(t, srv)
	for _, next := range append(openRedirects, "/inbox") {
		// The query string as a link would carry it, the form as a browser posts it.
		status, body := getAs(t, srv, nil, "/signin?next="+url.QueryEscape(next))
		if status != http.StatusOK && status != http.StatusBadRequest {
			t.Fatalf("GET /signin?next=%q: %d", next, status)
		}
		if strings.Contains(body, "evil.example") {
			t.Errorf("GET /signin?next=%q puts the target in the form:\n%s", next, body)
		}
		r := postForm(t, srv, "/signin", url.Values{"token": {"tok-maria"}, "csrf": {csrf}, "next": {next}}, []*http.Cookie{pre})
		want := "/"
		if next == "/inbox" {
			want = "/inbox"
		}
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("sign-in with next %q: %d to %q, want 303 to %q", next, r.StatusCode, loc, want)
		}
	}
	// The one from the issue: /signin?next=/%09/evil.example.
	status, body := getAs(t, srv, nil, "/signin?next=/%09/evil.example")
	if status != http.StatusOK || !strings.Contains(body, `name="next" value="/"`) {
		t.Errorf("GET /signin?next=/%%09/evil.example: %d\n%s", status, body)
	}
}

// TestSigninRefusesCrossSitePosts: POST /signin needs the token of a form this
// server gave the same browser, and a browser's word that it comes from this
// site.
func TestSigninRefusesCrossSitePosts(t *testing.T) {
	srv, _ := newTestServer(t)
	pre, csrf := signinForm(t, srv)
	otherPre, otherCSRF := signinForm(t, srv)
	ok := url.Values{"token": {"tok-maria"}, "csrf": {csrf}}
	for _, tc := range []struct {
		name    string
		form    url.Values
		cookies []*http.Cookie
		headers []string
	}{
		{"from another origin", ok, []*http.Cookie{pre}, []string{"Origin", "https://evil.example"}},
		{"from another port", ok, []*http.Cookie{pre}, []string{"Origin", "http://127.0.0.1:1"}},
		{"from an opaque origin", ok, []*http.Cookie{pre}, []string{"Origin", "null"}},
		{"cross-site by Sec-Fetch-Site", ok, []*http.Cookie{pre}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site, other origin, by Sec-Fetch-Site", ok, []*http.Cookie{pre}, []string{"Sec-Fetch-Site", "same-site"}},
		{"without a CSRF token", url.Values{"token": {"tok-maria"}}, []*http.Cookie{pre}, nil},
		{"without the pre-session cookie", ok, nil, nil},
		{"with another browser's token", url.Values{"token": {"tok-maria"}, "csrf": {otherCSRF}}, []*http.Cookie{pre}, nil},
		{"with a forged token", url.Values{"token": {"tok-maria"}, "csrf": {"forged"}}, []*http.Cookie{otherPre}, nil},
	} {
		r := postForm(t, srv, "/signin", tc.form, tc.cookies, tc.headers...)
		if r.StatusCode != http.StatusForbidden || respCookie(r, sessionCookie) != nil {
			t.Errorf("sign-in %s: %d, cookies %v; want 403 and no session", tc.name, r.StatusCode, r.Cookies())
		}
	}
	r := postForm(t, srv, "/signin", ok, []*http.Cookie{pre}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin")
	if r.StatusCode != http.StatusSeeOther || respCookie(r, sessionCookie) == nil {
		t.Errorf("same-origin sign-in: %d", r.StatusCode)
	}
	if c := respCookie(r, signinCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-in does not delete the pre-session cookie: %+v", c)
	}
}

// TestSessionCookie: the cookie is a random 32-byte session id, never the
// token; Secure when the public URL is https; sign-out ends the session on the
// server, so a copied cookie is worth nothing after it.
func TestSessionCookie(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const token = "tok-maria"
	for _, tc := range []struct {
		name, public string
		headers      []string
		secure       bool
	}{
		{name: "plain http", secure: false},
		{name: "public https URL, TLS ends at a proxy", public: "https://meshflow.example.com", secure: true},
		{name: "public http URL", public: "http://meshflow.internal:8080", secure: false},
		{name: "proxy says https", headers: []string{"X-Forwarded-Proto", "https"}, secure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(Deps{Store: st, Auth: tokens{token: "maria.rossi"}, Logger: quiet, PublicURL: tc.public}))
			defer srv.Close()
			pre, csrf := signinForm(t, srv)
			r := postForm(t, srv, "/signin", url.Values{"token": {token}, "csrf": {csrf}}, []*http.Cookie{pre}, tc.headers...)
			c := respCookie(r, sessionCookie)
			if r.StatusCode != http.StatusSeeOther || c == nil {
				t.Fatalf("sign in: %d", r.StatusCode)
			}
			if c.Secure != tc.secure {
				t.Errorf("Secure = %v, want %v", c.Secure, tc.secure)
			}
			if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != 32 || strings.Contains(c.Value, token) {
				t.Errorf("session cookie %q is not a random 32-byte id", c.Value)
			}
			if c.MaxAge <= 0 || c.MaxAge > int((12*time.Hour).Seconds()) || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Errorf("session cookie %+v", c)
			}
		})
	}

	srv := httptest.NewServer(New(Deps{Store: st, Auth: tokens{token: "maria.rossi"}, Logger: quiet}))
	defer srv.Close()
	session := signIn(t, srv, token)
	// The token itself is no session.
	if status, _ := getAs(t, srv, &http.Cookie{Name: sessionCookie, Value: token}, "/runs"); status != http.StatusUnauthorized {
		t.Errorf("the token as a session cookie: %d, want 401", status)
	}
	if status, _ := getAs(t, srv, session, "/runs"); status == http.StatusUnauthorized {
		t.Fatalf("signed in, /runs: %d", status)
	}
	_, page := getAs(t, srv, session, "/")
	csrf := csrfOf(t, page)
	if r := postForm(t, srv, "/signout", url.Values{"csrf": {csrf}}, []*http.Cookie{session}, "Origin", srv.URL); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.StatusCode)
	} else if c := respCookie(r, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out does not delete the cookie: %+v", c)
	}
	// The browser may keep the cookie: the server has ended the session.
	if status, body := getAs(t, srv, session, "/runs"); status != http.StatusUnauthorized || strings.Contains(body, `id="principal"`) {
		t.Errorf("the cookie of a signed-out session: %d, want 401", status)
	}
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="csrf" value="`)
	v, _, ok2 := strings.Cut(rest, `"`)
	if !ok || !ok2 || v == "" {
		t.Fatalf("no CSRF token in\n%s", page)
	}
	return v
}

// publicRoutes are the routes anyone may use. A new public route must be added
// here, knowingly.
var publicRoutes = []string{
	"GET /static/",
	"GET /{$}",
	"GET /api/v1/products",
	"GET /api/v1/products/{domain}/{name}",
	"GET /api/v1/products/{domain}/{name}/odps",
	"GET /products/{domain}/{name}",
	"GET /signin",
	"POST /signin",
	"/",
}

// TestRouteTable walks the route table: every route that is not public refuses
// an anonymous request with 401 (the sign-in form, or a JSON error under
// /api/), and the public ones are exactly publicRoutes.
func TestRouteTable(t *testing.T) {
	srv, _ := newTestServer(t)
	s := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).(*server)
	var public []string
	for _, rt := range s.routes() {
		if rt.public {
			public = append(public, rt.pattern)
			continue
		}
		method, p, ok := strings.Cut(rt.pattern, " ")
		if !ok {
			method, p = http.MethodGet, rt.pattern
		}
		p = strings.NewReplacer("{domain}", "finance", "{name}", "kpis", "{$}", "", "{id...}", "refresh/finance/kpis/x").Replace(p)
		req, _ := http.NewRequest(method, srv.URL+p, strings.NewReader("csrf=x&workflow=refresh/finance/kpis/x&manifest=h&decision=approve"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c := *srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(p, "/api/"):
			if !strings.Contains(string(b), `"code":"unauthenticated"`) {
				t.Errorf("%s anonymously: 401 without the JSON error: %s", rt.pattern, b)
			}
		case resp.StatusCode == http.StatusUnauthorized:
			if !strings.Contains(string(b), `action="/signin"`) {
				t.Errorf("%s anonymously: 401 without the sign-in form:\n%s", rt.pattern, b)
			}
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/signin"):
		default:
			t.Errorf("%s anonymously: %d, want 401 or a redirect to /signin", rt.pattern, resp.StatusCode)
		}
	}
	if !slices.Equal(public, publicRoutes) {
		t.Errorf("public routes %q, want %q", public, publicRoutes)
	}
	if slices.Contains(public, "GET /runs") {
		t.Error("/runs is public; /api/v1/runs needs a principal")
	}
}

// TestStorePathsHidden: an anonymous visitor of the product page and API
// learns no path of the store (a folder of the worker's machine) and no local
// input file; a signed-in one does.
func TestStorePathsHidden(t *testing.T) {
	srv, st := newTestServer(t)
	root := st.(*storage.LocalStore).Root()
	session := signIn(t, srv, "tok-maria")
	for _, path := range []string{"/products/finance/kpis", "/api/v1/products/finance/kpis", "/api/v1/products/finance/kpis/odps", "/api/v1/products", "/"} {
		status, body := getAs(t, srv, nil, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, status)
		}
		if strings.Contains(body, root) || strings.Contains(body, "file:") {
			t.Errorf("GET %s anonymously shows a store path (%s):\n%s", path, root, body)
		}
	}
	if _, body := getAs(t, srv, session, "/products/finance/kpis"); !strings.Contains(body, root) {
		t.Errorf("the signed-in product page does not show where the data is (%s)", root)
	}

	// A store error names its paths: only the signed in read it.
	s := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).(*server)
	err := errors.New("open " + root + "/finance/kpis/latest.json: permission denied")
	if d := s.detail(httptest.NewRequest(http.MethodGet, "/", nil), err); strings.Contains(d, root) {
		t.Errorf("an anonymous error page says %q", d)
	}
}

func TestLocalURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"file://data/fx.csv": true, "file:///home/ops/data/fx.csv": true, "/home/ops/fx.csv": true, `C:\data\fx.csv`: true,
		"s3://bucket/fx.csv": false, "https://example.com/fx.csv": false, "": false,
	} {
		if got := localURI(uri); got != want {
			t.Errorf("localURI(%q) = %v, want %v", uri, got, want)
		}
	}
}
