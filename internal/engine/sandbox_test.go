package engine

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
)

// sandboxRun lays out a worker's scratch as the activities do: a run folder with
// its staged inputs, the engine's own folder inside it, and next to the run the
// things its SQL must not reach: another product's published Parquet, a file
// store holding grants, and a secret.
type sandboxRun struct {
	root, run, scratch, other, store string
	db                               *DB
}

func newSandboxRun(t *testing.T) *sandboxRun {
	t.Helper()
	root := t.TempDir()
	r := &sandboxRun{root: root, run: filepath.Join(root, "scratch", "run-1"), other: filepath.Join(root, "published", "finance", "fx-rates"),
		store: filepath.Join(root, "store")}
	r.scratch = filepath.Join(r.run, "transform")
	write := func(path, text string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write(filepath.Join(root, "secret.csv"), "key,value\napi,s3cr3t\n")
	write(filepath.Join(r.store, "_grants", "sales", "grant.json"), `{"grantee":"sales"}`+"\n")
	orders := write(filepath.Join(r.run, "inputs", "orders", "0000.csv"),
		"order_id,city,units,price\n1,Berlin,2,10.0\n2,Berlin,1,5.5\n3,Paris,4,2.0\n4,Paris,1,8.0\n5,Rome,3,1.0\n")
	cities := write(filepath.Join(r.run, "inputs", "cities", "0000.jsonl"),
		`{"city":"Berlin","country":"DE"}`+"\n"+`{"city":"Paris","country":"FR"}`+"\n"+`{"city":"Rome","country":"IT"}`+"\n")

	// Another product's published files, written by a DuckDB that is not sandboxed.
	plain, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := os.MkdirAll(r.other, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"COPY (SELECT DATE '2024-01-01' AS day, 'EUR' AS currency, 1.1 AS usd_rate) TO " + Quote(filepath.Join(r.other, "data.parquet")) + " (FORMAT parquet)",
		"COPY (SELECT 'EUR' AS currency, 1.1 AS usd_rate) TO " + Quote(filepath.Join(r.run, "inputs", "rates", "0000.parquet")) + " (FORMAT parquet)",
	} {
		if err := os.MkdirAll(filepath.Join(r.run, "inputs", "rates"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := plain.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	db, err := Open(t.Context(), r.scratch, 1, "256MB", 64<<20, r.run)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r.db = db
	for _, in := range []Input{
		{Name: "orders", Format: refresh.FormatCSV, Files: []string{orders}},
		{Name: "cities", Format: refresh.FormatJSON, Files: []string{cities}},
		{Name: "rates", Format: refresh.FormatParquet, Files: []string{filepath.Join(r.run, "inputs", "rates", "0000.parquet")}},
	} {
		if _, err := db.LoadInput(t.Context(), in); err != nil {
			t.Fatalf("load %s inside the sandbox: %v", in.Name, err)
		}
	}
	return r
}

// TestSandboxedProductSQL runs ordinary product SQL over the loaded inputs, and
// the engine's own reading and writing of files in the run's scratch.
func TestSandboxedProductSQL(t *testing.T) {
	r := newSandboxRun(t)
	ctx := t.Context()
	cases := []struct {
		name, sql string
		rows      int64
	}{
		{"join", "SELECT o.order_id, c.country, o.units * o.price * r.usd_rate AS usd FROM orders o JOIN cities c USING (city) CROSS JOIN rates r", 5},
		{"with", "WITH big AS (SELECT * FROM orders WHERE units > 1) SELECT city, count(*) AS n FROM big GROUP BY city", 3},
		{"group by all", "SELECT c.country, sum(o.units) AS units FROM orders o JOIN cities c ON o.city = c.city GROUP BY ALL", 3},
		{"window", "SELECT order_id, city, row_number() OVER (PARTITION BY city ORDER BY units DESC) AS rank, sum(units) OVER w AS city_units FROM orders WINDOW w AS (PARTITION BY city)", 5},
		{"qualify and trailing semicolon", "SELECT * FROM orders QUALIFY row_number() OVER (PARTITION BY city ORDER BY order_id) = 1;\n-- the first order per city\n", 3},
		{"from-first", "FROM orders SELECT city, units", 5},
		{"own input files", "SELECT * FROM read_csv(" + Quote(filepath.Join(r.run, "inputs", "orders", "0000.csv")) + ")", 5},
	}
	for _, tc := range cases {
		n, err := r.db.Run(ctx, "candidate", tc.sql)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if n != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.name, n, tc.rows)
		}
	}
	var units int64
	if _, err := r.db.Run(ctx, "candidate", "SELECT c.country, sum(o.units) AS units FROM orders o JOIN cities c USING (city) GROUP BY ALL"); err != nil {
		t.Fatal(err)
	}
	if err := r.db.QueryRowContext(ctx, "SELECT units FROM candidate WHERE country = 'FR'").Scan(&units); err != nil || units != 5 {
		t.Errorf("units of FR: %d, %v; want 5", units, err)
	}
	out := filepath.Join(r.run, "candidate.parquet")
	if err := r.db.WriteParquet(ctx, "candidate", out); err != nil {
		t.Fatalf("write the candidate inside the sandbox: %v", err)
	}
	if err := r.db.LoadParquet(ctx, "again", out); err != nil {
		t.Fatalf("read the candidate back: %v", err)
	}
	// Spilling to the temp folder in scratch still works.
	if _, err := r.db.Run(ctx, "big", "SELECT i, md5(i::VARCHAR) AS h FROM range(300000) t(i) ORDER BY h"); err != nil {
		t.Fatalf("a query that may spill: %v", err)
	}
}

// TestSandboxRefusesEscapes tries what a product's SQL must not do. Each attempt
// goes through Run, as a product's SQL does, and must fail with an *SQLError,
// leave nothing behind and leave the sandbox as it was.
func TestSandboxRefusesEscapes(t *testing.T) {
	r := newSandboxRun(t)
	ctx := t.Context()
	other := Quote(filepath.Join(r.other, "data.parquet"))
	up := filepath.Join(r.scratch, "..", "..", "..")
	forged := filepath.Join(r.store, "_grants", "sales", "forged.json")
	cases := []struct {
		name, sql string
		// says is a part of the error, to show which guard refused.
		says string
	}{
		{"another product's parquet", "SELECT * FROM read_parquet(" + other + ")", "disabled by configuration"},
		{"another product's parquet by replacement scan", "SELECT * FROM " + other, "disabled by configuration"},
		{"another product's folder by glob", "SELECT * FROM read_parquet(" + Quote(filepath.Join(r.root, "published", "**", "*.parquet")) + ")", "disabled by configuration"},
		{"parquet metadata outside", "SELECT * FROM parquet_metadata(" + other + ")", "disabled by configuration"},
		{".. out of scratch", "SELECT * FROM read_csv(" + Quote(filepath.Join(up, "secret.csv")) + ")", "disabled by configuration"},
		{".. out of the run folder", "SELECT * FROM read_csv(" + Quote(filepath.Join(r.run, "..", "..", "secret.csv")) + ")", "disabled by configuration"},
		{"relative ..", "SELECT * FROM read_csv('../../../../../../etc/passwd')", "disabled by configuration"},
		{"read_text /etc/passwd", "SELECT * FROM read_text('/etc/passwd')", "disabled by configuration"},
		{"read_blob /etc/passwd", "SELECT * FROM read_blob('/etc/passwd')", "disabled by configuration"},
		{"read_csv /etc/passwd", "SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"},
		{"read_json /etc/passwd", "SELECT * FROM read_json('/etc/passwd')", "disabled by configuration"},
		{"sniff_csv /etc/passwd", "SELECT * FROM sniff_csv('/etc/passwd')", "disabled by configuration"},
		{"a list with one file outside", "SELECT * FROM read_csv([" + Quote(filepath.Join(r.run, "inputs", "orders", "0000.csv")) + ", " + Quote(filepath.Join(r.root, "secret.csv")) + "])", "disabled by configuration"},
		{"file:// URL", "SELECT * FROM read_csv(" + Quote("file://"+filepath.Join(r.root, "secret.csv")) + ")", "disabled by configuration"},
		{"glob over the parent folder", "SELECT * FROM glob(" + Quote(filepath.Join(r.run, "..", "*")) + ")", "disabled by configuration"},
		{"glob /tmp/**", "SELECT * FROM glob('/tmp/**')", "disabled by configuration"},
		{"glob over the store root", "SELECT * FROM glob(" + Quote(filepath.Join(r.store, "**")) + ")", "disabled by configuration"},
		{"read a grant in the store", "SELECT * FROM read_text(" + Quote(filepath.Join(r.store, "_grants", "sales", "grant.json")) + ")", "disabled by configuration"},
		{"https", "SELECT * FROM read_csv('https://example.com/x.csv')", "disabled by configuration"},
		{"getenv", "SELECT getenv('HOME')", "getenv does not exist"},
		{"COPY to outside scratch", "COPY (SELECT 1) TO " + Quote(filepath.Join(r.scratch, "..", "..", "x.csv")), "found COPY"},
		{"COPY a forged grant into the store", "COPY (SELECT 'sales' AS grantee) TO " + Quote(forged), "found COPY"},
		{"COPY inside scratch", "COPY (SELECT 1) TO " + Quote(filepath.Join(r.scratch, "x.csv")), "found COPY"},
		{"a second statement", "SELECT 1 AS x; COPY (SELECT 1) TO " + Quote(forged), "found COPY (statement 2 of 2)"},
		{"a second query", "SELECT 1 AS x; SELECT 2 AS y", "found a second query (statement 2 of 2)"},
		{"DROP after a query", "SELECT * FROM orders; DROP TABLE orders", "found DROP (statement 2 of 2)"},
		{"ATTACH", "ATTACH " + Quote(filepath.Join(r.root, "x.db")) + " AS x", "found ATTACH"},
		{"SET enable_external_access", "SET enable_external_access = true", "found SET"},
		{"SET after a query", "SELECT 1; SET lock_configuration = false", "found SET (statement 2 of 2)"},
		{"RESET", "RESET enable_external_access", "found RESET"},
		{"RESET ALL", "RESET ALL", "found RESET"},
		{"INSTALL httpfs", "INSTALL httpfs", "found INSTALL"},
		{"LOAD httpfs", "LOAD httpfs", "found LOAD"},
		{"PRAGMA", "PRAGMA enable_external_access", "found PRAGMA"},
		{"EXPORT DATABASE", "EXPORT DATABASE " + Quote(filepath.Join(r.root, "export")), "found EXPORT"},
		{"CALL", "CALL pragma_version()", "found CALL"},
		{"CREATE SECRET", "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')", "found CREATE"},
		{"query() running a COPY", "SELECT * FROM query(" + Quote("COPY (SELECT 1) TO "+Quote(forged)) + ")", "single SELECT"},
		{"query() running a SET", "SELECT * FROM query('SET enable_external_access = true')", "single SELECT"},
		{"query() reading outside", "SELECT * FROM query(" + Quote("SELECT * FROM read_text('/etc/passwd')") + ")", "disabled by configuration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.db.Run(ctx, "candidate", tc.sql)
			if _, ok := errors.AsType[*SQLError](err); !ok {
				t.Fatalf("%s: got %v, want it refused with an *SQLError", tc.sql, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: error %q does not say %q", tc.sql, err, tc.says)
			}
		})
	}
	r.checkUntouched(t, forged, filepath.Join(r.root, "x.csv"), filepath.Join(r.scratch, "x.csv"), filepath.Join(r.root, "x.db"), filepath.Join(r.root, "export"))
}

// TestSandboxHoldsWithoutTheCheck runs escapes straight on the database, past
// Run's one-statement check: the sandbox itself refuses them.
func TestSandboxHoldsWithoutTheCheck(t *testing.T) {
	r := newSandboxRun(t)
	ctx := t.Context()
	forged := filepath.Join(r.store, "_grants", "sales", "forged.json")
	for _, q := range []string{
		"COPY (SELECT 'sales' AS grantee) TO " + Quote(forged),
		"COPY (SELECT 1) TO " + Quote(filepath.Join(r.scratch, "..", "..", "x.csv")),
		"ATTACH " + Quote(filepath.Join(r.root, "x.db")) + " AS x",
		"EXPORT DATABASE " + Quote(filepath.Join(r.root, "export")),
		"SET enable_external_access = true",
		"SET allowed_directories = ['/']",
		"SET GLOBAL allowed_paths = ['/etc/passwd']",
		"SET lock_configuration = false",
		"SET threads = 2",
		"SET memory_limit = '100GB'",
		"SET temp_directory = '/tmp'",
		"RESET enable_external_access",
		"RESET lock_configuration",
		"RESET threads",
		"INSTALL httpfs",
		"LOAD httpfs",
		"PRAGMA enable_external_access",
		"SELECT * FROM read_text('/etc/passwd')",
	} {
		if _, err := r.db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s: not refused", q)
		}
	}
	r.checkUntouched(t, forged, filepath.Join(r.root, "x.csv"), filepath.Join(r.root, "x.db"), filepath.Join(r.root, "export"))
}

// checkUntouched checks that none of files was written and that the sandbox's
// settings are as Open left them.
func (r *sandboxRun) checkUntouched(t *testing.T, files ...string) {
	t.Helper()
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	for name, want := range map[string]string{"enable_external_access": "false", "lock_configuration": "true", "threads": "1"} {
		var got string
		if err := r.db.QueryRowContext(t.Context(), "SELECT current_setting(?)::VARCHAR", name).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
}

// TestSandboxSpillsWithinItsBudget checks that DuckDB still spills to the temp
// folder in scratch, and that max_temp_directory_size still bounds it, once the
// configuration is locked.
func TestSandboxSpillsWithinItsBudget(t *testing.T) {
	run := t.TempDir()
	db, err := Open(t.Context(), filepath.Join(run, "transform"), 1, "64MB", 1<<20, run)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Run(t.Context(), "big", "SELECT range AS n, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS h FROM range(3000000) ORDER BY h")
	if !IsTempLimit(err) {
		t.Fatalf("got %v, want DuckDB to stop at max_temp_directory_size", err)
	}
}
