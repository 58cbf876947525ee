package main

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOneDecisionRule sends the same bad decisions to the API (POST
// /api/v1/decisions) and to the web inbox's form (POST /inbox/decide) of the
// handler meshflow serve builds: both answer the same status with the same
// words, and both count the refusal in the one refused metric. None of them
// reaches Temporal (the control client has none).
func TestOneDecisionRule(t *testing.T) {
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewTokens([]spec.Principal{{Name: "maria.rossi", TokenHash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := newHandler(reg, &control.Client{}, authn, slog.New(slog.NewTextHandler(io.Discard, nil)), st, &spec.Set{}, "", "", serve.QueryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	browser := signedIn(t, srv, tok)
	csrf := formToken(t, browser, srv.URL+"/")

	const id = "refresh/finance/global-kpis/x"
	cases := []struct {
		name     string
		decision string // the form's decision button: approve, reject or none
		form     url.Values
		status   int
		code     string
	}{
		{"a rejection without a comment", "reject", url.Values{"workflow": {id}, "manifest": {"h"}, "comment": {" \n "}}, 400, api.CodeCommentRequired},
		{"a comment over the limit", "approve", url.Values{"workflow": {id}, "manifest": {"h"}, "comment": {strings.Repeat("x", api.MaxComment+1)}}, 400, api.CodeBadComment},
		{"a comment with control characters", "reject", url.Values{"workflow": {id}, "manifest": {"h"}, "comment": {"no\x1b[2J"}}, 400, api.CodeBadComment},
		{"no manifest hash", "approve", url.Values{"workflow": {id}}, 400, api.CodeMissingField},
		{"no verdict", "", url.Values{"workflow": {id}, "manifest": {"h"}}, 400, api.CodeMissingField},
		{"not a refresh run", "approve", url.Values{"workflow": {"access/finance/global-kpis/x"}, "manifest": {"h"}}, 404, api.CodeUnknownRun},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refusedCount(t, reg, tc.code)

			body := map[string]any{"workflowId": tc.form.Get("workflow"), "manifestHash": tc.form.Get("manifest"), "comment": tc.form.Get("comment")}
			if tc.decision != "" {
				body["approve"] = tc.decision == "approve"
			}
			b, _ := json.Marshal(body)
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/v1/decisions", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e api.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || e.Code != tc.code {
				t.Fatalf("API: %d %+v, want %d %s", resp.StatusCode, e, tc.status, tc.code)
			}

			form := url.Values{"csrf": {csrf}}
			for k, v := range tc.form {
				form[k] = v
			}
			if tc.decision != "" {
				form.Set("decision", tc.decision)
			}
			req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/inbox/decide", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", srv.URL)
			resp, err = browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("inbox: %d, want %d as from the API", resp.StatusCode, tc.status)
			}
			if !strings.Contains(html.UnescapeString(string(page)), e.Message) {
				t.Errorf("inbox page does not say the API's %q:\n%s", e.Message, page)
			}
			if after := refusedCount(t, reg, tc.code); after != before+2 {
				t.Errorf("meshflow_approvals_refused_total{reason=%q} went from %v to %v, want +2 (one per channel)", tc.code, before, after)
			}
		})
	}
	if n, err := testutil.GatherAndCount(reg, "meshflow_approvals_decided_total"); err != nil || n != 0 {
		t.Errorf("%d decided series after refusals only (%v), want 0", n, err)
	}
}

// signedIn signs in to the web pages with a token and returns a client that
// holds the session.
func signedIn(t *testing.T, srv *httptest.Server, token string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := formToken(t, c, srv.URL+"/signin")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/signin", strings.NewReader(url.Values{"token": {token}, "csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	return c
}

// formToken reads the CSRF token of the form on a page.
func formToken(t *testing.T, c *http.Client, page string) string {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s has no form with a CSRF token (%d):\n%s", page, resp.StatusCode, b)
	}
	return m[1]
}

// refusedCount reads meshflow_approvals_refused_total{reason} from reg.
func refusedCount(t *testing.T, reg prometheus.Gatherer, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "meshflow_approvals_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
