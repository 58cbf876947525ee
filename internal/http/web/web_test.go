package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// tokens is an authenticator with fixed tokens.
type tokens map[string]string

func (t tokens) Authenticate(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", errors.New("no Authorization: Bearer header")
	}
	if p, ok := t[tok]; ok {
		return p, nil
	}
	return "", errors.New("unknown token")
}

const testContract = `apiVersion: v3.1.0
kind: DataContract
id: 7d0c
name: %[1]s
version: 1.0.0
status: active
domain: %[2]s
description:
  purpose: Purpose of %[1]s.
tags: [%[3]s]
schema:
  - name: t
    properties:
      - {name: day, logicalType: date, required: true}
      - {name: amount, logicalType: number, classification: %[4]s, customProperties: [{property: glossaryTerm, value: %[5]s}]}
slaProperties:
  - {property: frequency, value: 1, unit: d}
`

// publish publishes a product's versions into st through the real publisher;
// a version whose major number goes up is published as a breaking change.
func publish(t testing.TB, st storage.Store, ref, tag, class, term string, versions ...string) {
	t.Helper()
	domain, name, _ := strings.Cut(ref, "/")
	for i, v := range versions {
		breaking := i > 0 && strings.Split(v, ".")[0] != strings.Split(versions[i-1], ".")[0]
		m := refresh.Manifest{WorkflowID: refresh.WorkflowID(ref, v),
			Columns: []refresh.Column{{Name: "day", Type: "DATE"}, {Name: "amount", Type: "DOUBLE"}},
			Quality: refresh.Quality{RowsIn: int64(100 + i), RowsOut: int64(90 + i), Quarantined: 10, Rules: []refresh.RuleSummary{
				{ID: "amount_0", Severity: "error", Status: "fail", Failing: 10, Fraction: .1},
				{ID: "amount_1", Severity: "warning", Status: "warn", Failing: 3, Fraction: .03}}},
			Approvals: []refresh.Approval{{Principal: "maria.rossi", Decision: refresh.Approve, Comment: "<b>looks right</b>", At: time.Now()}}}
		if breaking {
			m.Impact = &refresh.Impact{Changed: []refresh.ChangedColumn{{Name: "region", Change: refresh.ColumnRemoved, Type: "VARCHAR"}},
				Consumers: []refresh.ConsumerImpact{{Product: "finance/board-pack", Checked: true, Reads: []string{"region"},
					Summary: "finance/board-pack will fail: its SQL reads `region`, removed here"}}}
		}
		got := publishtest.Publish(t, st, publishtest.Version{Ref: ref, RunID: "run-" + v, Breaking: breaking, Manifest: m,
			At:       time.Now().Add(-time.Duration(len(versions)-i) * time.Hour),
			Contract: fmt.Sprintf(testContract, name, domain, tag, class, term)})
		if got.Version != v {
			t.Fatalf("published %s %s, want %s", ref, got.Version, v)
		}
	}
}

func newTestServer(t *testing.T) (*httptest.Server, storage.Store) {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publish(t, st, "finance/kpis", "board", "internal", "net-revenue", "1.0.0", "1.1.0", "2.0.0")
	publish(t, st, "supply-chain/trucks", "iot", "public", "delivery-delay", "1.0.0")
	h := New(Deps{Store: st, Auth: tokens{"tok-maria": "maria.rossi"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st
}

// signinForm opens the sign-in form as a browser does and returns its
// pre-session cookie and CSRF token.
func signinForm(t *testing.T, srv *httptest.Server) (*http.Cookie, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pre *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == signinCookie {
			pre = c
		}
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if pre == nil || m == nil {
		t.Fatalf("the sign-in form has no pre-session cookie or CSRF token: %v\n%s", resp.Cookies(), b)
	}
	return pre, m[1]
}

// postForm posts a form with cookies and headers (name: value pairs).
func postForm(t *testing.T, srv *httptest.Server, path string, form url.Values, cookies []*http.Cookie, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// respCookie returns the cookie a response sets, nil without one.
func respCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs in through the form with a token and returns the session cookie.
func signIn(t *testing.T, srv *httptest.Server, token string) *http.Cookie {
	t.Helper()
	pre, csrf := signinForm(t, srv)
	resp := postForm(t, srv, "/signin", url.Values{"token": {token}, "csrf": {csrf}}, []*http.Cookie{pre}, "Origin", srv.URL, "Sec-Fetch-Site", "same-origin")
	session := respCookie(resp, sessionCookie)
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign in: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	return session
}

// getAs reads a page with a session cookie (nil: anonymously), following redirects.
func getAs(t *testing.T, srv *httptest.Server, session *http.Cookie, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if session != nil {
		req.AddCookie(session)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	srv, _ := newTestServer(t)
	session := signIn(t, srv, "tok-maria")
	for _, tc := range []struct {
		path   string
		status int
		want   []string
		not    []string
		anon   bool // read anonymously, not signed in
	}{
		{"/", 200, []string{"finance/kpis", "supply-chain/trucks", "2 of 2 products"}, nil, true},
		{"/?term=net-revenue", 200, []string{`href="/products/finance/kpis"`, "1 of 2"}, []string{`href="/products/supply-chain/trucks"`}, true},
		{"/?q=purpose+kpis", 200, []string{`href="/products/finance/kpis"`}, []string{`href="/products/supply-chain/trucks"`}, true},
		{"/?class=public", 200, []string{`href="/products/supply-chain/trucks"`}, []string{`href="/products/finance/kpis"`}, true},
		{"/?tag=board&domain=supply-chain", 200, []string{"No published product matches"}, nil, true},
		{"/?q=%3Cscript%3E", 200, []string{"&lt;script&gt;"}, []string{"<script>"}, true},
		{"/?q=" + strings.Repeat("x", 300), 400, []string{"longer than 200"}, nil, true},
		{"/?q=%ff", 400, []string{"not valid text"}, nil, true},
		{"/?q=a&q=b", 400, []string{"given 2 times"}, nil, true},
		{"/products/finance/kpis", 200, []string{
			"<code>amount</code>", `href="/?term=net-revenue"`, `id="versions-table"`, "v2.0.0", "v1.1.0", `id="lineage-svg"`,
			`id="rows-chart"`, "read_parquet(&#39;file://", "&lt;b&gt;looks right&lt;/b&gt;", "amount_1 warn", "This server is not connected to Temporal",
			`<span class="bad impact" title="finance/board-pack will fail: its SQL reads ` + "`region`" + `, removed here">broke finance/board-pack</span>`}, nil, false},
		{"/products/finance/kpis", 200, []string{"<code>amount</code>", `id="versions-table"`, `id="data-hidden"`, "Sign in to see where the data is stored"},
			[]string{"file://", "read_parquet", "This server is not connected to Temporal"}, true},
		{"/products/finance/nope", 404, []string{"finance/nope has not been published"}, nil, true},
		{"/products/Finance/../x", 404, nil, nil, true},
		{"/products/fin%20ance/kpis", 404, []string{"lower-case"}, nil, true},
		{"/nowhere", 404, []string{"There is no page at /nowhere"}, nil, true},
		{"/runs?product=bad", 400, []string{"write &lt;domain&gt;/&lt;name&gt;"}, nil, false},
		{"/runs", 503, []string{"not connected to Temporal"}, nil, false},
		{"/runs", 401, []string{"Sign in to see this page", `name="next" value="/runs"`}, []string{"not connected to Temporal"}, true},
		{"/inbox", 401, []string{"Sign in to see"}, nil, true},
		{"/static/style.css", 200, []string{"max-width"}, nil, true},
	} {
		who := session
		if tc.anon {
			who = nil
		}
		status, body := getAs(t, srv, who, tc.path)
		if status != tc.status {
			t.Errorf("GET %s: status %d, want %d\n%s", tc.path, status, tc.status, body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in\n%s", tc.path, w, body)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("GET %s: unexpected %q", tc.path, n)
			}
		}
	}
}

func TestSigninAndCSRF(t *testing.T) {
	srv, _ := newTestServer(t)
	pre, csrf := signinForm(t, srv)
	form := func(token string, next ...string) url.Values {
		v := url.Values{"token": {token}, "csrf": {csrf}}
		if len(next) > 0 {
			v.Set("next", next[0])
		}
		return v
	}
	if r := postForm(t, srv, "/signin", form("wrong"), []*http.Cookie{pre}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("sign-in with a wrong token: %d", r.StatusCode)
	}
	r := postForm(t, srv, "/signin", form("tok-maria", "//evil.example/"), []*http.Cookie{pre}, "Origin", srv.URL)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	session := respCookie(r, sessionCookie)
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", session)
	}
	if _, body := getAs(t, srv, session, "/"); !strings.Contains(body, `id="principal">maria.rossi<`) {
		t.Errorf("signed-in page does not name the principal")
	}
	// A decision without the session's CSRF token is refused before Temporal is asked.
	decision := url.Values{"workflow": {"refresh/finance/kpis/x"}, "manifest": {"h"}, "decision": {"approve"}, "csrf": {"forged"}}
	if r := postForm(t, srv, "/inbox/decide", decision, []*http.Cookie{session}); r.StatusCode != http.StatusForbidden {
		t.Errorf("decision with a forged CSRF token: %d, want 403", r.StatusCode)
	}
	decision.Set("csrf", regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(func() string { _, b := getAs(t, srv, session, "/"); return b }())[1])
	if r := postForm(t, srv, "/inbox/decide", decision, []*http.Cookie{session}, "Origin", "https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Errorf("decision with the right CSRF token from another origin: %d, want 403", r.StatusCode)
	}
	if r := postForm(t, srv, "/inbox/decide", decision, nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("decision without a session: %d, want 401", r.StatusCode)
	}
	if r := postForm(t, srv, "/signout", url.Values{"csrf": {"forged"}}, []*http.Cookie{session}); r.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out with a forged CSRF token: %d, want 403", r.StatusCode)
	}
}

// TestInboxEvidence renders an inbox entry with failing-row samples and
// contract changes, as the inbox page does for a run read from Temporal.
func TestInboxEvidence(t *testing.T) {
	s := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).(*server)
	d := inboxData{Principal: "maria.rossi", MaxComment: api.MaxComment, Pending: []pendingRun{{
		Run: runRow{WorkflowID: "refresh/finance/kpis/x", Product: "finance/kpis"},
		Status: refresh.Status{Product: "finance/kpis", Stage: refresh.StageAwaitingApproval, Submitter: "chen.jie", ManifestHash: "abc123",
			Changes: []refresh.ContractChange{{Severity: "breaking", Kind: "column-removed", Path: "schema.t.amount", Message: "column amount was removed"}},
			Rules:   []refresh.RuleSummary{{ID: "email_1", Severity: "warning", Status: "warn", Failing: 2, Fraction: .02}}},
		Report: &qualityReport{Rules: []reportRule{{ID: "email_1", Failing: 2, Checked: 100, Samples: []map[string]any{
			{"email": "<script>x</script>", "n": float64(3)}, {"email": nil, "n": float64(4)}}}}},
	}}}
	w := httptest.NewRecorder()
	s.render(w, httptest.NewRequest(http.MethodGet, "/inbox", nil), http.StatusOK, "inbox", page{Title: "Inbox", Principal: "maria.rossi", Data: d})
	body := w.Body.String()
	for _, want := range []string{"Failing rows of <code>email_1</code>", "<th>email</th><th>n</th>", "&lt;script&gt;x&lt;/script&gt;", "NULL",
		"column amount was removed", `name="workflow" value="refresh/finance/kpis/x"`, `<article class="pending" id="refresh/finance/kpis/x"`, `name="manifest" value="abc123"`, `maxlength="2000"`, "Submitted by <strong>chen.jie</strong>"} {
		if !strings.Contains(body, want) {
			t.Errorf("inbox lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("a sample value is not escaped")
	}
}

// TestInboxShowsImpact renders an inbox entry whose change breaks one consumer
// and not another: each consumer's verdict, summary and output columns show.
func TestInboxShowsImpact(t *testing.T) {
	s := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).(*server)
	im := &refresh.Impact{Changed: []refresh.ChangedColumn{{Name: "city", Change: refresh.ColumnRemoved, Type: "VARCHAR"}},
		Consumers: []refresh.ConsumerImpact{
			{Product: "film/airport-cities", Checked: true, Error: `Binder Error: Referenced column "city" not found`, Reads: []string{"city"},
				Outputs: []refresh.OutputImpact{{Column: "city name", Reads: []string{"city"}}},
				Summary: "film/airport-cities will fail: its SQL reads `city`, removed here"},
			{Product: "film/heights", Checked: true, Binds: true, Summary: "film/heights still binds and reads none of the changed columns"},
		}}
	d := inboxData{Principal: "maria.rossi", MaxComment: api.MaxComment, Pending: []pendingRun{{
		Run:    runRow{WorkflowID: "refresh/aviation/airports/x", Product: "aviation/airports"},
		Status: refresh.Status{Product: "aviation/airports", Stage: refresh.StageAwaitingApproval, ManifestHash: "abc123", Impact: im},
	}}}
	w := httptest.NewRecorder()
	s.render(w, httptest.NewRequest(http.MethodGet, "/inbox", nil), http.StatusOK, "inbox", page{Title: "Inbox", Principal: "maria.rossi", Data: d})
	body := w.Body.String()
	for _, want := range []string{"Impact on consumers", "<code>city</code> removed here",
		`<tr data-consumer="film/airport-cities">`, `<td class="bad">will fail</td>`, "its SQL reads `city`, removed here",
		"<code>city name</code> reads <code>city</code>", "DuckDB: Binder Error: Referenced column &#34;city&#34; not found",
		`<tr data-consumer="film/heights">`, `<td class="good">binds</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("inbox lacks %q:\n%s", want, body)
		}
	}
}

// TestProductShowsDeprecation: a deprecated major shows on its product's
// page with its date, note and newest version.
func TestProductShowsDeprecation(t *testing.T) {
	srv, st := newTestServer(t)
	if err := catalog.Deprecate(t.Context(), st, refresh.Deprecation{Product: "finance/kpis", Major: 1, On: "2099-03-01", Note: "use <b>@2</b>", By: "maria.rossi", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	status, body := getAs(t, srv, nil, "/products/finance/kpis")
	want := `<dd class="deprecation" id="deprecated-1"><span class="warn">@1 is deprecated on 2099-03-01</span> (newest 1.1.0): use &lt;b&gt;@2&lt;/b&gt;`
	if status != 200 || !strings.Contains(body, want) {
		t.Errorf("product page: %d, no %q in\n%s", status, want, body)
	}
}

// TestProductShowsAnomalies: a version's anomaly warnings show on the product
// page with their message, and a skipped history rule as skipped.
func TestProductShowsAnomalies(t *testing.T) {
	srv, st := newTestServer(t)
	publishtest.Publish(t, st, publishtest.Version{Ref: "supply-chain/trucks", Manifest: refresh.Manifest{Quality: refresh.Quality{
		RowsIn: 20, RowsOut: 20, Warnings: 1, Rules: []refresh.RuleSummary{
			{ID: "volume_holds", Severity: "error", Status: "skipped", Message: "skipped: no published version has column speed"},
			{ID: "anomaly_row_count", Severity: "warning", Status: "warn", Message: "volume anomaly: 20 rows against a median of 200 over the last 5 versions"},
		}, Anomalies: []refresh.Anomaly{{Rule: "anomaly_row_count", Metric: "row_count", Value: 20, Median: 200}}}}})
	status, body := getAs(t, srv, nil, "/products/supply-chain/trucks")
	for _, want := range []string{
		`<span class="warn">volume anomaly: 20 rows against a median of 200 over the last 5 versions</span>`,
		`<span class="muted" title="skipped: no published version has column speed">volume_holds skipped</span>`,
	} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("product page: %d, no %q in\n%s", status, want, body)
		}
	}
	if strings.Contains(body, "anomaly_row_count warn") {
		t.Error("the anomaly shows as a failing rule too")
	}
}

// TestProductShowsUnchangedCheck: after a run found the output unchanged
// since the latest version, the product page counts freshness from the
// check and says so; a check of an older version is not shown.
func TestProductShowsUnchangedCheck(t *testing.T) {
	srv, st := newTestServer(t)
	at := time.Now().Add(-time.Minute).Truncate(time.Second)
	write := func(version string) {
		t.Helper()
		b, err := json.Marshal(layout.Check{Version: version, CheckedAt: at, RunID: "r", WorkflowID: "refresh/finance/kpis/x"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(t.Context(), layout.CheckedKey("finance/kpis"), bytes.NewReader(b), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := `<span id="checked">(checked ` + at.Local().Format("2006-01-02 15:04") + `, unchanged since 2.0.0)</span>`
	write("2.0.0")
	if status, body := getAs(t, srv, nil, "/products/finance/kpis"); status != 200 || !strings.Contains(body, want) {
		t.Errorf("product page: %d, no %q in\n%s", status, want, body)
	}
	write("1.1.0")
	if status, body := getAs(t, srv, nil, "/products/finance/kpis"); status != 200 || strings.Contains(body, `id="checked"`) {
		t.Errorf("product page with a check of an older version: %d, shows it:\n%s", status, body)
	}
}
