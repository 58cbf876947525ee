package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.temporal.io/sdk/client"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
)

// openAPIURL is the base the document is loaded at, so that its $refs resolve.
const openAPIURL = "https://meshflow.invalid/api/v1/openapi.json"

// openAPIDoc is the document as the conformance test reads it.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		Responses map[string]struct {
			Content map[string]json.RawMessage `json:"content"`
		} `json:"responses"`
	} `json:"paths"`
}

// docOperation turns a route ("GET /api/v1/runs/{id...}") into the document's
// method and path ("get", "/api/v1/runs/{id}").
func docOperation(route string) (method, path string) {
	method, path, _ = strings.Cut(route, " ")
	return strings.ToLower(method), strings.ReplaceAll(path, "...}", "}")
}

// TestOpenAPIDocumentsEveryRoute checks that the document and api.Routes name
// the same operations, and that every api.Route… constant is in api.Routes.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented, listed []string
	for path, item := range doc.Paths {
		for method := range item {
			documented = append(documented, method+" "+path)
		}
	}
	for _, r := range api.Routes {
		m, p := docOperation(r)
		listed = append(listed, m+" "+p)
	}
	slices.Sort(documented)
	slices.Sort(listed)
	if !slices.Equal(documented, listed) {
		t.Errorf("the document's operations\n  %v\ndiffer from api.Routes\n  %v", documented, listed)
	}
	consts := routeConstants(t)
	for name, pattern := range consts {
		if !slices.Contains(api.Routes, pattern) {
			t.Errorf("api.%s (%s) is not in api.Routes", name, pattern)
		}
	}
}

// routeConstants reads the api.Route… constants from their source.
func routeConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../internal/http/api/routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && len(vs.Values) == 1 && strings.HasPrefix(vs.Names[0].Name, "Route") {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				out[vs.Names[0].Name], _ = strconv.Unquote(lit.Value)
			}
		}
		return true
	})
	if len(out) != len(api.Routes) {
		t.Errorf("routes.go has %d Route constants, api.Routes %d entries", len(out), len(api.Routes))
	}
	return out
}

// TestMuxRegistersOnlyDocumentedRoutes parses the files that register the
// handlers of meshflow serve: every pattern they give Handle, HandleFunc or
// the web pages' route table under /api/ or /metrics must be an api.Route…
// constant (so it is in the document), or the /api/ catch-all. A route
// registered with a string of its own fails here.
func TestMuxRegistersOnlyDocumentedRoutes(t *testing.T) {
	consts := routeConstants(t)
	var files []string
	for _, glob := range []string{"../../internal/http/serve/*.go", "../../internal/http/web/*.go", "*.go"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	registered := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			case *ast.Ident:
				fn = f.Name
			}
			if fn != "Handle" && fn != "HandleFunc" && fn != "public" && fn != "signedIn" {
				return true
			}
			var pattern string
			switch a := call.Args[0].(type) {
			case *ast.BasicLit:
				pattern, _ = strconv.Unquote(a.Value)
			case *ast.SelectorExpr:
				if x, ok := a.X.(*ast.Ident); ok && x.Name == "api" {
					p, ok := consts[a.Sel.Name]
					if !ok {
						t.Errorf("%s: %s.%s is not a route constant", name, x.Name, a.Sel.Name)
					}
					registered[p] = true
				}
				return true
			default:
				return true
			}
			_, path, found := strings.Cut(pattern, " ")
			if !found {
				path = pattern
			}
			if pattern == "/api/" || pattern == "/metrics" && name == "serve.go" {
				return true // the catch-all answering 404 and 405, and the forward of /metrics to the API server
			}
			if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/metrics") {
				t.Errorf("%s registers %q: name it in internal/http/api/routes.go and document it in openapi.json", name, pattern)
			}
			return true
		})
	}
	for _, r := range api.Routes {
		if !registered[r] {
			t.Errorf("%s is documented but no file registers it", r)
		}
	}
}

// conformance calls the real handler and checks each answer against the
// document.
type conformance struct {
	t       *testing.T
	url     string
	doc     openAPIDoc
	schemas *jsonschema.Compiler
	cache   map[string]*jsonschema.Schema
	seen    map[string][]int // statuses answered, by route
}

func newConformance(t *testing.T, url string) *conformance {
	c := &conformance{t: t, url: url, cache: map[string]*jsonschema.Schema{}, seen: map[string][]int{}}
	if err := json.Unmarshal(api.OpenAPI, &c.doc); err != nil {
		t.Fatal(err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPI))
	if err != nil {
		t.Fatal(err)
	}
	c.schemas = jsonschema.NewCompiler()
	c.schemas.DefaultDraft(jsonschema.Draft2020)
	c.schemas.AssertFormat()
	if err := c.schemas.AddResource(openAPIURL, raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// pointer escapes a JSON pointer token for a URL fragment.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, tok := range tokens {
		tok = strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
		tok = strings.NewReplacer("{", "%7B", "}", "%7D").Replace(tok)
		b.WriteString("/" + tok)
	}
	return b.String()
}

// call sends a request to route with path (the route's path with its
// parameters filled in), as the holder of token ("" for none), and returns the
// status and body after checking them against the document.
func (c *conformance) call(route, path, token string, body any) (int, []byte) {
	c.t.Helper()
	method, docPath := docOperation(route)
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				c.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), strings.ToUpper(method), c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	c.seen[route] = append(c.seen[route], resp.StatusCode)
	c.check(route, method, docPath, path, resp, got)
	return resp.StatusCode, got
}

func (c *conformance) check(route, method, docPath, path string, resp *http.Response, body []byte) {
	c.t.Helper()
	what := fmt.Sprintf("%s %s: %d", strings.ToUpper(method), path, resp.StatusCode)
	op, ok := c.doc.Paths[docPath][method]
	if !ok {
		c.t.Errorf("%s: the document has no operation %s %s", what, method, docPath)
		return
	}
	status := strconv.Itoa(resp.StatusCode)
	r, ok := op.Responses[status]
	if !ok {
		c.t.Errorf("%s: the document declares no response %s for %s (body %.300s)", what, status, route, body)
		return
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		c.t.Errorf("%s: Content-Type %q: %v", what, resp.Header.Get("Content-Type"), err)
		return
	}
	if _, ok := r.Content[mt]; !ok {
		c.t.Errorf("%s: Content-Type %s is not declared for it", what, mt)
		return
	}
	if mt != "application/json" {
		return
	}
	loc := openAPIURL + "#" + pointer("paths", docPath, method, "responses", status, "content", mt, "schema")
	sch, ok := c.cache[loc]
	if !ok {
		if sch, err = c.schemas.Compile(loc); err != nil {
			c.t.Fatalf("compile %s: %v", loc, err)
		}
		c.cache[loc] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		c.t.Errorf("%s: the body is not JSON: %v\n%.300s", what, err, body)
		return
	}
	if err := sch.Validate(v); err != nil {
		c.t.Errorf("%s: the body does not match the document: %v\n%.1000s", what, err, body)
	}
}

// covered checks that every route answered a success and, where the document
// declares one, an error.
func (c *conformance) covered() {
	c.t.Helper()
	for _, route := range api.Routes {
		method, path := docOperation(route)
		declaresError := false
		for status := range c.doc.Paths[path][method].Responses {
			declaresError = declaresError || status >= "400"
		}
		seen := c.seen[route]
		if !slices.ContainsFunc(seen, func(s int) bool { return s < 300 }) {
			c.t.Errorf("%s: no success answer was checked (saw %v)", route, seen)
		}
		if declaresError && !slices.ContainsFunc(seen, func(s int) bool { return s >= 400 }) {
			c.t.Errorf("%s: no error answer was checked (saw %v)", route, seen)
		}
	}
}

// TestOpenAPIConformance runs the handler meshflow serve builds on a real
// Temporal server with workers and a store holding the example mesh's
// products, calls every operation of the document for a success and an error,
// and validates every answer against the schema the document declares for its
// route and status.
func TestOpenAPIConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server and runs refreshes")
	}
	st := harness.LocalStore(t)
	env := harness.New(t, "openapi", st)
	set := harness.CheckMesh(t, meshtest.Example(t))
	env.Mesh.Apply(t, set, nil)
	env.StartWorkers(harness.Queues(set), harness.WorkerOptions{Threads: 1})

	tokens := map[string]string{}
	var principals []spec.Principal
	for _, name := range []string{"maria.rossi", "omar.haddad", "anna.schmidt", "li.wei", "tom.baker"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok
		principals = append(principals, spec.Principal{Name: name, TokenHash: hash})
	}
	authn, err := auth.NewTokens(principals)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(prometheus.NewRegistry(), env.Control, authn, harness.QuietLogger(), st, set, "", "", serve.QueryConfig{Scratch: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := newConformance(t, srv.URL)
	maria, omar, anna, li, tom := tokens["maria.rossi"], tokens["omar.haddad"], tokens["anna.schmidt"], tokens["li.wei"], tokens["tom.baker"]
	const kpis = "finance/global-kpis"
	want := func(status int, got int, body []byte, what string) {
		t.Helper()
		if got != status {
			t.Fatalf("%s: %d %s, want %d", what, got, body, status)
		}
	}

	// Runs and approvals.
	s, b := c.call(api.RouteApprovals, "/api/v1/approvals", omar, nil)
	want(200, s, b, "approvals")
	s, b = c.call(api.RouteApprovals, "/api/v1/approvals?product=nonsense", omar, nil)
	want(400, s, b, "approvals of a bad product")
	s, b = c.call(api.RouteRuns, "/api/v1/runs?limit=101", maria, nil)
	want(400, s, b, "runs with limit 101")
	s, b = c.call(api.RouteRun, "/api/v1/runs/refresh/finance/global-kpis/nothing", maria, nil)
	want(404, s, b, "an unknown run")
	s, b = c.call(api.RouteRun, "/api/v1/runs/refresh/finance/global-kpis/nothing", "", nil)
	want(401, s, b, "a run, anonymously")

	// The KPIs' inputs, published by refreshes their stewards start.
	for ref, who := range map[string]string{"sales-china/regional-sales": li, "sales-emea/regional-sales": anna, "finance/fx-rates": maria} {
		s, b := c.call(api.RouteRefreshes, "/api/v1/refreshes", who, api.RefreshRequest{Product: ref})
		want(201, s, b, "a refresh of "+ref)
		var up api.Started
		if err := json.Unmarshal(b, &up); err != nil {
			t.Fatal(err)
		}
		if res, err := env.Result(runOf(env, up), 2*time.Minute); err != nil || res.Stage != refresh.StagePublished {
			t.Fatalf("the refresh of %s: %+v, %v", ref, res, err)
		}
	}

	// A refresh of the KPIs, started by their steward: it asks for access to
	// the EMEA sales, which the EMEA steward grants, then waits for a
	// colleague's approval.
	s, b = c.call(api.RouteRefreshes, "/api/v1/refreshes", tom, api.RefreshRequest{Product: kpis})
	want(403, s, b, "a refresh by someone outside the owner team")
	s, b = c.call(api.RouteRefreshes, "/api/v1/refreshes", maria, []byte(`{"product":"`+kpis+`","principal":"omar.haddad"}`))
	want(400, s, b, "a refresh naming a principal")
	s, b = c.call(api.RouteRefreshes, "/api/v1/refreshes", maria, api.RefreshRequest{Product: "finance/nothing"})
	want(404, s, b, "a refresh of an unknown product")
	s, b = c.call(api.RouteRefreshes, "/api/v1/refreshes", maria, api.RefreshRequest{Product: kpis, Reason: "openapi"})
	want(201, s, b, "a refresh")
	var started api.Started
	if err := json.Unmarshal(b, &started); err != nil {
		t.Fatal(err)
	}
	// The publications above may have started refreshes of the KPIs of their
	// own: the request to decide is the one this run filed.
	var grantRun string
	testwait.For(t, 2*time.Minute, "the KPIs' access request for the EMEA sales", func() bool {
		asks, _ := env.Control.PendingAccess(t.Context(), "sales-emea/regional-sales")
		for _, a := range asks {
			if strings.HasSuffix(a.WorkflowID, started.RunID) && a.Stage == access.StagePending {
				grantRun = a.WorkflowID
			}
		}
		return grantRun != ""
	})
	yes := true
	s, b = c.call(api.RouteAccessDecisions, "/api/v1/access/decisions", anna, api.AccessDecisionBody{Target: grantRun})
	want(400, s, b, "an access decision without a verdict")
	s, b = c.call(api.RouteAccessDecisions, "/api/v1/access/decisions", maria, api.AccessDecisionBody{Target: grantRun, Approve: &yes})
	want(403, s, b, "finance's steward granting finance access")
	s, b = c.call(api.RouteAccessDecisions, "/api/v1/access/decisions", anna, api.AccessDecisionBody{Target: grantRun, Approve: &yes, Comment: "openapi"})
	want(200, s, b, "the access approval")
	waiting := env.WaitStage(started.WorkflowID, refresh.StageAwaitingApproval, 2*time.Minute)
	s, b = c.call(api.RouteRun, "/api/v1/runs/"+started.WorkflowID, maria, nil)
	want(200, s, b, "the run")
	s, b = c.call(api.RouteRuns, "/api/v1/runs?product="+kpis, maria, nil)
	want(200, s, b, "runs")
	s, b = c.call(api.RouteApprovals, "/api/v1/approvals?product="+kpis, omar, nil)
	want(200, s, b, "approvals with a waiting run")
	s, b = c.call(api.RouteDecisions, "/api/v1/decisions", maria, api.DecisionRequest{WorkflowID: started.WorkflowID, Approve: &yes, ManifestHash: waiting.ManifestHash})
	want(403, s, b, "the submitter's approval")
	s, b = c.call(api.RouteDecisions, "/api/v1/decisions", omar, api.DecisionRequest{WorkflowID: started.WorkflowID, Approve: &yes, ManifestHash: "wrong"})
	want(409, s, b, "an approval of another manifest")
	s, b = c.call(api.RouteDecisions, "/api/v1/decisions", omar, api.DecisionRequest{WorkflowID: started.WorkflowID, Approve: &yes, ManifestHash: waiting.ManifestHash, Comment: "openapi"})
	want(200, s, b, "the approval")
	if res, err := env.Result(runOf(env, started), 2*time.Minute); err != nil || res.Stage != refresh.StagePublished {
		t.Fatalf("the approved refresh: %+v, %v", res, err)
	}

	// The document, the catalog and the metrics, all public.
	s, b = c.call(api.RouteOpenAPI, "/api/v1/openapi.json", "", nil)
	want(200, s, b, "the document")
	s, b = c.call(api.RouteMetrics, "/metrics", "", nil)
	want(200, s, b, "metrics")
	s, b = c.call(api.RouteProducts, "/api/v1/products?domain=finance", "", nil)
	want(200, s, b, "search")
	s, b = c.call(api.RouteProducts, "/api/v1/products?limit=0", "", nil)
	want(400, s, b, "search with limit 0")
	s, b = c.call(api.RouteProduct, "/api/v1/products/"+kpis, "", nil)
	want(200, s, b, "a product")
	s, b = c.call(api.RouteProduct, "/api/v1/products/"+kpis, maria, nil)
	want(200, s, b, "a product, signed in")
	s, b = c.call(api.RouteProduct, "/api/v1/products/finance/nothing", "", nil)
	want(404, s, b, "an unknown product")
	s, b = c.call(api.RouteProductODPS, "/api/v1/products/"+kpis+"/odps", "", nil)
	want(200, s, b, "ODPS")
	s, b = c.call(api.RouteProductODPS, "/api/v1/products/finance/nothing/odps", "", nil)
	want(404, s, b, "ODPS of an unknown product")

	// Data: the steward reads; someone without a grant may not.
	s, b = c.call(api.RouteData, "/api/v1/products/"+kpis+"/data", maria, nil)
	want(200, s, b, "the steward's download")
	s, b = c.call(api.RouteData, "/api/v1/products/"+kpis+"/data", tom, nil)
	want(403, s, b, "a download without a grant")
	s, b = c.call(api.RouteData, "/api/v1/products/"+kpis+"/data", "", nil)
	want(401, s, b, "an anonymous download")
	s, b = c.call(api.RouteData, "/api/v1/products/"+kpis+"/data?version=9.9.9", maria, nil)
	want(404, s, b, "an unknown version")
	// Deprecations: the product's steward may; someone else may not; a bad
	// date or a major never published is refused.
	deps := "/api/v1/products/" + kpis + "/deprecations"
	s, b = c.call(api.RouteDeprecations, deps, tom, api.DeprecationBody{Major: 1, On: "2099-03-01"})
	want(403, s, b, "a deprecation by someone outside the owner team")
	s, b = c.call(api.RouteDeprecations, deps, maria, api.DeprecationBody{Major: 1, On: "March 1st"})
	want(400, s, b, "a deprecation with a bad date")
	s, b = c.call(api.RouteDeprecations, deps, maria, api.DeprecationBody{Major: 9, On: "2099-03-01"})
	want(404, s, b, "a deprecation of a major never published")
	s, b = c.call(api.RouteDeprecations, deps, "", api.DeprecationBody{Major: 1, On: "2099-03-01"})
	want(401, s, b, "an anonymous deprecation")
	s, b = c.call(api.RouteDeprecations, deps, omar, api.DeprecationBody{Major: 1, On: "2099-03-01", Note: "openapi"})
	want(201, s, b, "a deprecation by the owner team")
	s, b = c.call(api.RouteLink, "/api/v1/products/"+kpis+"/link", maria, nil)
	want(200, s, b, "a link")
	var link struct{ URL string }
	if err := json.Unmarshal(b, &link); err != nil || !strings.HasPrefix(link.URL, "/api/v1/links/") {
		t.Fatalf("link %s: %v", b, err)
	}
	s, b = c.call(api.RouteLink, "/api/v1/products/"+kpis+"/link", tom, nil)
	want(403, s, b, "a link without a grant")
	s, b = c.call(api.RouteFollowLink, link.URL, "", nil)
	want(200, s, b, "following the link")
	s, b = c.call(api.RouteFollowLink, "/api/v1/links/forged.token", "", nil)
	want(403, s, b, "a forged link")

	// Queries: the steward asks; someone without a grant may not; not a SELECT.
	s, b = c.call(api.RouteQuery, "/api/v1/query", maria, api.QueryRequest{SQL: `SELECT count(*) AS n FROM "` + kpis + `"`})
	want(200, s, b, "the steward's query")
	s, b = c.call(api.RouteQuery, "/api/v1/query", tom, api.QueryRequest{SQL: `SELECT * FROM "` + kpis + `"`})
	want(403, s, b, "a query without a grant")
	s, b = c.call(api.RouteQuery, "/api/v1/query", maria, api.QueryRequest{SQL: `DELETE FROM "` + kpis + `"`})
	want(400, s, b, "a query that is not a SELECT")
	s, b = c.call(api.RouteQuery, "/api/v1/query", "", api.QueryRequest{SQL: "SELECT 1"})
	want(401, s, b, "an anonymous query")

	// A person asks for access; the EMEA steward revokes finance's grant.
	s, b = c.call(api.RouteAccessRequests, "/api/v1/access/requests", tom, api.AccessRequestBody{Product: kpis, Purpose: "openapi", Duration: "forever"})
	want(400, s, b, "an access request with a bad duration")
	s, b = c.call(api.RouteAccessRequests, "/api/v1/access/requests", tom, api.AccessRequestBody{Product: kpis, Purpose: "openapi", Duration: "720h"})
	want(201, s, b, "an access request")
	s, b = c.call(api.RouteRevocations, "/api/v1/access/revocations", anna, api.RevocationBody{WorkflowID: "refresh/x"})
	want(400, s, b, "a revocation of something else")
	s, b = c.call(api.RouteRevocations, "/api/v1/access/revocations", anna, api.RevocationBody{WorkflowID: grantRun, Reason: "openapi"})
	want(200, s, b, "the revocation")

	c.covered()
}

// runOf is the run a Started answer names.
func runOf(env *harness.Env, s api.Started) client.WorkflowRun {
	return env.Temporal.GetWorkflow(env.T.Context(), s.WorkflowID, s.RunID)
}
