package serve

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// parquetOf returns the Parquet bytes of a query's result.
func parquetOf(t *testing.T, sql string) []byte {
	t.Helper()
	dir := t.TempDir()
	db, err := engine.Open(t.Context(), dir, 1, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	file := filepath.Join(dir, "x.parquet")
	if _, err := db.ExecContext(t.Context(), "COPY ("+sql+") TO "+engine.Quote(file)+" (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type queryFixture struct {
	ts      *httptest.Server
	tokens  map[string]string
	store   string
	scratch string
}

// newQueryFixture publishes finance/global-kpis 1.0.0 and 1.1.0 (readable by
// maria, its steward, and by anna with a proven grant) and sales/orders (read
// by nobody but its owner, sam).
func newQueryFixture(t *testing.T, timeout time.Duration) *queryFixture {
	t.Helper()
	return newQueryFixtureWith(t, QueryConfig{Timeout: timeout, DefaultRows: 5, MaxRows: 50})
}

// newQueryFixtureWith is newQueryFixture with the server's query bounds.
func newQueryFixtureWith(t *testing.T, cfg QueryConfig) *queryFixture {
	t.Helper()
	root := t.TempDir()
	st, err := storage.OpenLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	kpis := "finance/global-kpis"
	publishtest.Publish(t, st, publishtest.Version{Ref: kpis, Data: parquetOf(t, "SELECT * FROM (VALUES ('eu', 1), ('us', 2)) t(region, revenue)")})
	publishtest.Publish(t, st, publishtest.Version{Ref: kpis, Data: parquetOf(t, "SELECT 'r' || i AS region, i AS revenue FROM range(10) r(i)")})
	publishtest.Publish(t, st, publishtest.Version{Ref: "sales/orders", Data: parquetOf(t, "SELECT 42 AS secret")})
	publishtest.Publish(t, st, publishtest.Version{Ref: "finance/daily", Partitions: map[string][]byte{
		"2026-06-01": parquetOf(t, "SELECT DATE '2026-06-01' AS day, 3 AS n"),
		"2026-06-02": parquetOf(t, "SELECT DATE '2026-06-02' AS day, 4 AS n UNION ALL SELECT DATE '2026-06-02', 5"),
	}})
	now := time.Now()
	recordProvenGrant(t, st, access.Grant{ID: "g1", Product: kpis, Principal: "anna", GrantedBy: "maria",
		GrantedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), WorkflowID: "access/x"})
	f := &queryFixture{tokens: map[string]string{}, store: root, scratch: filepath.Join(t.TempDir(), "q")}
	var principals []spec.Principal
	for _, p := range []string{"maria", "anna", "tom", "sam"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[p] = tok
		principals = append(principals, spec.Principal{Name: p, TokenHash: hash})
	}
	authn, err := auth.NewTokens(principals)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runs: noRuns{}, Auth: authn, Registry: prometheus.NewRegistry(), Store: st,
		Readers: func(r string) []string {
			switch r {
			case kpis, "finance/daily":
				return []string{"maria"}
			case "sales/orders":
				return []string{"sam"}
			}
			return nil
		},
		Query: withScratch(cfg, f.scratch)})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(srv)
	t.Cleanup(f.ts.Close)
	return f
}

func (f *queryFixture) query(t *testing.T, who string, req api.QueryRequest) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/api/v1/query", bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer "+f.tokens[who])
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestQueryFollowsGrants(t *testing.T) {
	f := newQueryFixture(t, 30*time.Second)
	cases := []struct {
		name, who, sql string
		limit          int
		status         int
		body           string
	}{
		{"steward reads latest", "maria", `SELECT region, revenue FROM "finance/global-kpis" ORDER BY revenue`, 0, 200,
			`{"columns":["region","revenue"],"rows":[["r0",0],["r1",1],["r2",2],["r3",3],["r4",4]],"truncated":true}`},
		{"grantee reads a version", "anna", `SELECT * FROM "finance/global-kpis@1.0.0" ORDER BY revenue`, 0, 200,
			`{"columns":["region","revenue"],"rows":[["eu",1],["us",2]],"truncated":false}`},
		{"two versions joined", "anna", `SELECT count(*) AS n FROM "finance/global-kpis" k JOIN "finance/global-kpis@1.0.0" o USING (revenue)`, 0, 200,
			`{"columns":["n"],"rows":[[2]],"truncated":false}`},
		{"limit", "maria", `SELECT revenue FROM "finance/global-kpis" ORDER BY revenue;`, 2, 200,
			`{"columns":["revenue"],"rows":[[0],[1]],"truncated":true}`},
		{"no grant", "tom", `SELECT * FROM "finance/global-kpis"`, 0, 403, "tom has no access to finance/global-kpis"},
		{"a restricted product among allowed", "anna", `SELECT * FROM "finance/global-kpis", "sales/orders"`, 0, 403, "anna has no access to sales/orders"},
		{"unknown product, no right", "anna", `SELECT * FROM "finance/nothing"`, 0, 403, "anna has no access to finance/nothing"},
		{"unknown version", "maria", `SELECT * FROM "finance/global-kpis@9.9.9"`, 0, 404, "unknown_version"},
		{"a plain table is no product", "maria", `SELECT * FROM orders`, 0, 400, "bad_query"},
		{"a product named in a string is not read", "tom", `SELECT '"sales/orders"' AS x`, 0, 200, `"rows":[["\"sales/orders\""]]`},
		{"a malformed name", "maria", `SELECT * FROM "finance/global-kpis@latest"`, 0, 400, "does not name a product"},
		{"not a SELECT", "maria", `DROP VIEW "finance/global-kpis"`, 0, 400, "found DROP"},
		{"two statements", "maria", `SELECT 1; SELECT 2`, 0, 400, "bad_query"},
		{"closing the wrap", "maria", `SELECT 1) LIMIT 1; COPY (SELECT 1) TO 'x.csv'; SELECT (1`, 0, 400, "bad_query"},
		{"a limit above the maximum", "maria", `SELECT 1`, 51, 400, "from 1 to 50"},
		{"every partition of a version", "maria", `SELECT count(*) AS rows, sum(n) AS n, count(DISTINCT day) AS days FROM "finance/daily"`, 0, 200,
			`{"columns":["rows","n","days"],"rows":[[3,12,2]],"truncated":false}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.query(t, tc.who, api.QueryRequest{SQL: tc.sql, Limit: tc.limit})
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
	if entries, err := os.ReadDir(f.scratch); err != nil || len(entries) != 0 {
		t.Errorf("query folders left behind: %v %v", entries, err)
	}
}

func TestQueryCannotReadOtherFiles(t *testing.T) {
	f := newQueryFixture(t, 30*time.Second)
	orders := filepath.Join(f.store, "sales", "orders", "**", "*.parquet")
	if err := os.MkdirAll(f.scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(f.scratch, "secret.csv")
	if err := os.WriteFile(secret, []byte("secret\n42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sql, says string }{
		{`SELECT * FROM read_csv('/etc/passwd')`, "disabled by configuration"},
		{`SELECT * FROM read_text('/etc/passwd')`, "disabled by configuration"},
		{`SELECT * FROM glob('/tmp/**')`, "disabled by configuration"},
		{`SELECT * FROM glob(` + engine.Quote(filepath.Join(f.store, "**")) + `)`, "disabled by configuration"},
		{`SELECT * FROM read_parquet(` + engine.Quote(orders) + `)`, "disabled by configuration"},
		{`SELECT * FROM glob(` + engine.Quote(filepath.Join(f.scratch, "*", "*")) + `)`, "disabled by configuration"},
		{`SELECT * FROM read_csv(` + engine.Quote(secret) + `)`, "disabled by configuration"},
		{`SELECT * FROM read_csv('../../../../etc/passwd')`, "disabled by configuration"},
		{`SELECT * FROM read_csv('https://example.com/x.csv')`, "disabled by configuration"},
		{`SELECT * FROM query('SET enable_external_access = true')`, "single SELECT"},
	} {
		resp, body := f.query(t, "anna", api.QueryRequest{SQL: `SELECT * FROM "finance/global-kpis", (` + tc.sql + `)`})
		if resp.StatusCode != 400 || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: got %d %s, want 400 saying %q", tc.sql, resp.StatusCode, body, tc.says)
		}
	}
}

// TestQueryFolderIsNoPrefix shows that a query's folder q-1 does not open a
// sibling whose name starts the same (q-10), as query folders' names do.
func TestQueryFolderIsNoPrefix(t *testing.T) {
	root := t.TempDir()
	sibling := filepath.Join(root, "q-10")
	if err := os.MkdirAll(sibling, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sibling, "x.csv"), []byte("a\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), filepath.Join(root, "q-1"), 1, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(t.Context(), "SELECT count(*) FROM read_csv("+engine.Quote(filepath.Join(sibling, "x.csv"))+")").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "disabled by configuration") {
		t.Errorf("read the sibling folder: %v", err)
	}
}

func TestQueryFormats(t *testing.T) {
	f := newQueryFixture(t, 30*time.Second)
	resp, body := f.query(t, "maria", api.QueryRequest{SQL: `SELECT region, revenue FROM "finance/global-kpis" ORDER BY revenue`, Format: "csv", Limit: 3})
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || err != nil || len(recs) != 4 || strings.Join(recs[0], ",") != "region,revenue" || strings.Join(recs[3], ",") != "r2,2" {
		t.Errorf("csv: %d %q %v", resp.StatusCode, body, err)
	}
	if resp.Header.Get("X-Meshflow-Truncated") != "true" {
		t.Errorf("csv: X-Meshflow-Truncated %q", resp.Header.Get("X-Meshflow-Truncated"))
	}
	resp, body = f.query(t, "maria", api.QueryRequest{SQL: `SELECT sum(revenue) AS total FROM "finance/global-kpis"`, Format: "parquet"})
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("PAR1")) {
		t.Fatalf("parquet: %d %q", resp.StatusCode, body)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.parquet"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(t.Context(), dir, 1, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var total int64
	if err := db.QueryRowContext(t.Context(), "SELECT total FROM read_parquet("+engine.Quote(filepath.Join(dir, "r.parquet"))+")").Scan(&total); err != nil || total != 45 {
		t.Errorf("parquet: total %d, %v", total, err)
	}
	if resp, body := f.query(t, "maria", api.QueryRequest{SQL: "SELECT 1", Format: "xml"}); resp.StatusCode != 400 {
		t.Errorf("format xml: %d %s", resp.StatusCode, body)
	}
}

func TestQueryTimeout(t *testing.T) {
	f := newQueryFixture(t, 300*time.Millisecond)
	start := time.Now()
	resp, body := f.query(t, "maria", api.QueryRequest{SQL: `SELECT count(*) FROM range(100000000) a, range(100000000) b, "finance/global-kpis"`})
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "query_timeout") {
		t.Errorf("got %d %s, want 504 query_timeout", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the query stopped after %s", d)
	}
}

func withScratch(cfg QueryConfig, dir string) QueryConfig {
	cfg.Scratch = dir
	return cfg
}

// TestQueryAnswerIsBoundedAndNamesNoPath: an answer larger than MaxBytes is
// refused in every format, and a refused read's message names no host folder.
func TestQueryAnswerIsBoundedAndNamesNoPath(t *testing.T) {
	f := newQueryFixtureWith(t, QueryConfig{DefaultRows: 5, MaxRows: 50, MaxBytes: 2048})
	const wide = "SELECT md5(i::VARCHAR) || md5((i + 1)::VARCHAR) || md5((i + 2)::VARCHAR) AS h FROM range(50) r(i)"
	for _, format := range []string{"json", "csv", "parquet"} {
		resp, body := f.query(t, "maria", api.QueryRequest{SQL: wide, Format: format, Limit: 50})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "query_limit") {
			t.Errorf("%s: a 5 KB answer under a 2 KiB bound: %d %.200s", format, resp.StatusCode, body)
		}
	}
	if resp, body := f.query(t, "maria", api.QueryRequest{SQL: "SELECT 1 AS one", Format: "json"}); resp.StatusCode != http.StatusOK {
		t.Errorf("a small answer: %d %s", resp.StatusCode, body)
	}
	resp, body := f.query(t, "maria", api.QueryRequest{SQL: "SELECT * FROM read_text(" + engine.Quote(filepath.Join(f.scratch, "x")) + ")"})
	if resp.StatusCode == http.StatusOK || strings.Contains(string(body), f.scratch) {
		t.Errorf("a refused read names the folder: %d %s", resp.StatusCode, body)
	}
}

// TestPartitionedVersionIsNoSingleObject asks for a partitioned version's data
// as one object: the answer says it is partitioned and how to read it instead.
func TestPartitionedVersionIsNoSingleObject(t *testing.T) {
	f := newQueryFixture(t, 30*time.Second)
	for _, route := range []string{"data", "link"} {
		r, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/api/v1/products/finance/daily/"+route, nil)
		r.Header.Set("Authorization", "Bearer "+f.tokens["maria"])
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), CodePartitioned) || !strings.Contains(string(body), "/api/v1/query") {
			t.Errorf("%s of a partitioned version: %d %s; want 409 naming the query route", route, resp.StatusCode, body)
		}
	}
}
