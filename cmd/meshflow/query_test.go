package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/http/api"
)

// TestQueryCommand: meshflow query sends the SQL with the caller's token and
// prints the answer as a table, or writes the chosen format to --out.
func TestQueryCommand(t *testing.T) {
	var got []api.QueryRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "wrong request", http.StatusBadRequest)
			return
		}
		var req api.QueryRequest
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got = append(got, req)
		if req.Format == api.QueryCSV {
			w.Header().Set("Content-Type", "text/csv")
			w.Header().Set("X-Meshflow-Truncated", "false")
			io.WriteString(w, "region,revenue\neu,1\n")
			return
		}
		api.WriteJSON(w, http.StatusOK, api.QueryResult{Columns: []string{"region", "revenue"}, Rows: [][]any{{"eu", 1}, {nil, 2.5}}, Truncated: true})
	}))
	t.Cleanup(srv.Close)
	t.Setenv("MESHFLOW_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	sql := `SELECT region, revenue FROM "finance/global-kpis"`
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"query", "--server", srv.URL, "--token", "tok", sql}, &out, &errOut); err != nil {
		t.Fatalf("query: %v\n%s", err, errOut.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "region") || !strings.Contains(lines[2], "NULL") {
		t.Fatalf("table:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "cut at the row limit") {
		t.Errorf("no word of the truncation: %q", errOut.String())
	}
	file := filepath.Join(t.TempDir(), "a.csv")
	if err := run(context.Background(), []string{"query", "--server", srv.URL, "--token", "tok", "--format", "csv", "--out", file, sql}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "region,revenue\neu,1\n" {
		t.Fatalf("--out: %q, %v", b, err)
	}
	if len(got) != 2 || got[0].SQL != sql || got[0].Format != api.QueryJSON || got[1].Format != api.QueryCSV {
		t.Fatalf("requests: %+v", got)
	}
	if err := run(context.Background(), []string{"query", "--server", srv.URL, "--token", "tok", "--format", "parquet", sql}, &out, &errOut); err == nil {
		t.Error("parquet to the terminal was accepted")
	}
}
