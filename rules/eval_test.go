package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
)

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one in-memory database for every query
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func exec(t testing.TB, db *sql.DB, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

var nullCols = []Column{
	{Name: "id", Type: Int},
	{Name: "a", Type: Int, Nullable: true},
	{Name: "d", Type: Double, Nullable: true},
	{Name: "s", Type: String, Nullable: true},
	{Name: "b", Type: Bool, Nullable: true},
	{Name: "ts", Type: Timestamp, Nullable: true},
	{Name: "order id", Type: Int, Nullable: true},
}

func nullTable(t testing.TB) *sql.DB {
	db := openDB(t)
	exec(t, db,
		`CREATE TABLE t (id INTEGER, a BIGINT, d DOUBLE, s VARCHAR, b BOOLEAN, ts TIMESTAMP, "order id" BIGINT)`,
		`INSERT INTO t VALUES
			(1, 1, 1.5, 'x@y', true, TIMESTAMP '2024-01-02 00:00:00', 7),
			(2, NULL, NULL, NULL, NULL, NULL, NULL),
			(3, -5, 'nan', '', false, TIMESTAMP '2023-01-01 00:00:00', 8),
			(4, 0, 0.0, 'abc', true, NULL, 9)`)
	return db
}

// failingIDs evaluates one rule and returns the ids of the rows it fails.
func failingIDs(t *testing.T, db *sql.DB, expr string, force bool) (*RuleResult, []int64) {
	t.Helper()
	var ds diag.List
	set := Compile(nullCols, []Rule{{ID: "r", Expr: expr}}, Options{SampleSize: 10}, &ds)
	if ds.HasErrors() {
		t.Fatalf("%s: %v", expr, ds.Err())
	}
	rep, err := set.Evaluate(context.Background(), db, "t", EvalOptions{ForceCEL: force})
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	res := rep.Rule("r")
	var ids []int64
	for _, s := range res.Samples {
		ids = append(ids, toInt64(s["id"]))
	}
	slices.Sort(ids)
	if int64(len(ids)) != res.Failing {
		t.Errorf("%s: %d samples for %d failing rows", expr, len(ids), res.Failing)
	}
	return res, ids
}

func TestNullSemantics(t *testing.T) {
	db := nullTable(t)
	// The id column is an INTEGER in the table, an Int rule column.
	tests := []struct {
		expr    string
		failing []int64
		checked int64
		engine  Engine
	}{
		{`a > 0`, []int64{3, 4}, 3, EngineSQL},
		{`a == null`, []int64{1, 3, 4}, 4, EngineSQL},
		{`a != null`, []int64{2}, 4, EngineSQL},
		{`a == 5`, []int64{1, 2, 3, 4}, 4, EngineSQL},
		{`5 != a`, nil, 4, EngineSQL},
		{`a == a`, nil, 4, EngineSQL},
		{`a + 1 == a + 1`, nil, 3, EngineSQL},
		{`a == a + 0`, nil, 3, EngineSQL},
		{`a > 0 || a == null`, []int64{3, 4}, 4, EngineSQL},
		{`a > 0 && s.contains("@")`, []int64{3, 4}, 3, EngineSQL},
		{`d >= 0.0`, []int64{3}, 3, EngineSQL},
		{`d != d`, []int64{1, 2, 4}, 4, EngineSQL},
		{`d == d`, []int64{3}, 4, EngineSQL},
		{`d < d + 1.0`, []int64{3}, 3, EngineSQL},
		{`a in [1, 2]`, []int64{2, 3, 4}, 4, EngineSQL},
		{`a in [null, 1]`, []int64{3, 4}, 4, EngineSQL},
		{`a + 0 in [1]`, []int64{3, 4}, 3, EngineSQL},
		{`(a > 0 ? "p" : "n") == "p"`, []int64{3, 4}, 3, EngineSQL},
		{`b`, []int64{3}, 3, EngineSQL},
		{`!b`, []int64{1, 4}, 3, EngineSQL},
		{`b == true`, []int64{2, 3}, 4, EngineSQL},
		{`ts > timestamp("2023-06-01T00:00:00Z")`, []int64{3}, 2, EngineSQL},
		{`ts == null || ts < timestamp("2024-01-01T00:00:00+08:00")`, []int64{1}, 4, EngineSQL},
		{`size(s) > 0`, []int64{3}, 3, EngineSQL},
		{`s.matches("^[a-z]+$")`, []int64{1, 3}, 3, EngineSQL},
		{`s.startsWith("x") || s.endsWith("c")`, []int64{3}, 3, EngineSQL},
		{`row["order id"] == 7`, []int64{2, 3, 4}, 4, EngineSQL},
		{`row.a > 0`, []int64{3, 4}, 3, EngineSQL},
		{`d / 0.0 > 0.0`, []int64{3, 4}, 3, EngineSQL},
		{`string(a) + s != "1x@y"`, []int64{1}, 3, EngineSQL},
		{`double(a) < 1.0`, []int64{1}, 3, EngineSQL},
		{`int(d) == 1`, []int64{4}, 2, EngineSQL}, // int(NaN) is an error: unknown
		{`a % 2 == 0`, []int64{1, 3}, 3, EngineCEL},
		{`[1, 2].exists(x, x == a)`, []int64{2, 3, 4}, 4, EngineCEL}, // null == 1 is false
		{`a / 0 > 0`, nil, 0, EngineCEL},                             // division by zero: unknown on every row
	}
	for _, tc := range tests {
		for _, force := range []bool{false, true} {
			res, ids := failingIDs(t, db, tc.expr, force)
			name := fmt.Sprintf("%s (ForceCEL=%t)", tc.expr, force)
			if !slices.Equal(ids, tc.failing) {
				t.Errorf("%s: failing rows %v, want %v", name, ids, tc.failing)
			}
			if res.Checked != tc.checked {
				t.Errorf("%s: checked %d, want %d", name, res.Checked, tc.checked)
			}
			want := tc.engine
			if force {
				want = EngineCEL
			}
			if res.Engine != want {
				t.Errorf("%s: engine %s (%s), want %s", name, res.Engine, res.Fallback, want)
			}
		}
	}
}

func TestReportAndQuarantine(t *testing.T) {
	db := nullTable(t)
	dir := t.TempDir()
	rules := []Rule{
		{ID: "a_positive", Column: "a", Expr: `a > 0`, Threshold: &Threshold{Max: 50, Percent: true}},
		{ID: "not_abc", Expr: `[1].all(x, s != "abc")`}, // cel-go: fails row 4
		{ID: "has_at", Expr: `s.contains("@")`, Severity: Warning},
		{ID: "few_nulls", Expr: `null_count.a * 100 / row_count < 20`, Severity: Warning},
		{ID: "rows", Expr: `row_count >= 4 && distinct_count["s"] == 3 && duplicate_count.id == 0`},
		{ID: "bounds", Expr: `min.a == -5 && max.ts > timestamp("2024-01-01T00:00:00Z") && min.d == 0.0 && max.d != max.d`},
		{ID: "fractions", Expr: `failing_fraction.a_positive <= 0.5 && failing_fraction.not_abc == 0.25`},
	}
	var ds diag.List
	set := Compile(nullCols, rules, Options{}, &ds)
	if ds.Len() > 0 {
		t.Fatal(ds.Err(), ds.Items())
	}
	ev := EvalOptions{PassingPath: filepath.Join(dir, "pass.parquet"), QuarantinePath: filepath.Join(dir, "q.parquet")}
	rep, err := set.Evaluate(context.Background(), db, "t", ev)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{
		"a_positive": StatusPass, "not_abc": StatusFail, "has_at": StatusWarn,
		"few_nulls": StatusWarn, "rows": StatusPass, "bounds": StatusPass, "fractions": StatusPass,
	}
	for id, st := range want {
		if r := rep.Rule(id); r.Status != st {
			t.Errorf("%s: status %s (%s), want %s", id, r.Status, r.Message, st)
		}
	}
	// Rows 3 and 4 fail a_positive (error severity, within its threshold): they
	// are quarantined all the same; row 4 also fails not_abc.
	if rep.Rows != 4 || rep.Quarantined != 2 || rep.Passing != 2 {
		t.Errorf("rows %d, passing %d, quarantined %d; want 4, 2, 2", rep.Rows, rep.Passing, rep.Quarantined)
	}
	if !rep.Blocked() {
		t.Error("a failing error rule must block")
	}
	for path, n := range map[string]int64{ev.PassingPath: 2, ev.QuarantinePath: 2} {
		var got int64
		if err := db.QueryRow("SELECT count(*) FROM read_parquet('" + path + "')").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d rows, want %d", path, got, n)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"status":"fail"`, `"kind":"dataset"`, `"severity":"warning"`, `"d":"NaN"`, `"engine":"cel"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON report lacks %s: %s", s, b)
		}
	}
}

func TestViewWithCELRule(t *testing.T) {
	db := nullTable(t)
	exec(t, db, "CREATE VIEW v AS SELECT * FROM t WHERE id > 1")
	var ds diag.List
	set := Compile(nullCols, []Rule{{ID: "r", Expr: `[0].all(x, a != x)`}}, Options{}, &ds)
	q := filepath.Join(t.TempDir(), "q.parquet")
	rep, err := set.Evaluate(context.Background(), db, "v", EvalOptions{QuarantinePath: q})
	if err != nil {
		t.Fatal(err)
	}
	// Rows 2, 3, 4: only row 4 (a = 0) fails; row 2 (a null) is unknown.
	if rep.Rows != 3 || rep.Quarantined != 1 || rep.Passing != 2 || rep.Rule("r").Engine != EngineCEL {
		t.Errorf("got %+v", rep)
	}
	var id int64
	if err := db.QueryRow("SELECT id FROM read_parquet('" + q + "')").Scan(&id); err != nil || id != 4 {
		t.Errorf("quarantined row %d, %v; want 4", id, err)
	}
}

// TestFailedDatasetRuleSaysWhatItFound: a failing duplicate check names how many
// duplicates it found, on a column whose name has a space too.
func TestFailedDatasetRuleSaysWhatItFound(t *testing.T) {
	db := openDB(t)
	exec(t, db, `CREATE TABLE t (id INTEGER, "order id" INTEGER)`, `INSERT INTO t VALUES (1, 7), (1, 7), (1, 8), (2, NULL)`)
	cols := []Column{{Name: "id", Type: Int}, {Name: "order id", Type: Int, Nullable: true}}
	var ds diag.List
	set := Compile(cols, []Rule{
		{ID: "id_unique", Expr: `duplicate_count.id == 0`},
		{ID: "order_unique", Expr: `duplicate_count["order id"] == 0`, Severity: Warning},
		{ID: "enough", Expr: `row_count >= 10`},
	}, Options{}, &ds)
	if ds.Len() > 0 {
		t.Fatal(ds.Err())
	}
	rep, err := set.Evaluate(t.Context(), db, "t", EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		failing int64
		msg     string
	}{
		"id_unique":    {2, "found duplicate_count.id = 2"},
		"order_unique": {1, `found duplicate_count["order id"] = 1`},
		"enough":       {0, "found row_count = 4"},
	} {
		r := rep.Rule(id)
		if r.Failing != want.failing || !strings.Contains(r.Message, want.msg) {
			t.Errorf("%s: failing %d, message %q; want %d and %q", id, r.Failing, r.Message, want.failing, want.msg)
		}
	}
}

// TestContractUniqueOnAColumnNamedWithASpace: unique: true and a duplicateValues
// metric on a column whose name is not an identifier compile and find the
// duplicates.
func TestContractUniqueOnAColumnNamedWithASpace(t *testing.T) {
	src := "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n" +
		"      - {name: order id, logicalType: integer, unique: true}\n" +
		"      - name: line no\n        logicalType: integer\n        quality:\n          - {metric: duplicateValues, mustBeLessThan: 1, severity: warning}\n"
	var ds diag.List
	c, ok := contract.Load("c.odcs.yaml", []byte(src), &ds)
	if !ok {
		t.Fatal(ds.Err())
	}
	cols, rules := FromContract(c, &ds)
	set := Compile(cols, rules, Options{}, &ds)
	if ds.HasErrors() {
		t.Fatal(ds.Err(), ds.Items())
	}
	db := openDB(t)
	exec(t, db, `CREATE TABLE t ("order id" BIGINT, "line no" BIGINT)`, `INSERT INTO t VALUES (1, 1), (1, 2), (2, 2)`)
	rep, err := set.Evaluate(t.Context(), db, "t", EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var fails []string
	for _, r := range rep.Rules {
		if r.Status == StatusError {
			t.Errorf("%s: %s", r.ID, r.Message)
		}
		if r.Status == StatusFail || r.Status == StatusWarn {
			fails = append(fails, fmt.Sprintf("%s:%d", r.ID, r.Failing))
		}
	}
	if len(fails) != 2 {
		t.Errorf("failed rules %v, want the uniqueness of order id and the duplicates of line no, one each", fails)
	}
}

// TestColumnNamedLikeTheScansPredicates: a column whose name is the one the
// scan gives its first rule's predicate is counted and aggregated as itself.
func TestColumnNamedLikeTheScansPredicates(t *testing.T) {
	src := "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\nstatus: active\nschema:\n  - name: t\n    properties:\n" +
		"      - name: meshflow rule 0\n        logicalType: integer\n        required: true\n        quality:\n          - {metric: nullValues, mustBeLessThan: 2}\n" +
		"    quality:\n      - {type: custom, engine: cel, implementation: 'max[\"meshflow rule 0\"] == 3'}\n"
	var ds diag.List
	c, ok := contract.Load("c.odcs.yaml", []byte(src), &ds)
	if !ok {
		t.Fatal(ds.Err())
	}
	cols, rs := FromContract(c, &ds)
	set := Compile(cols, rs, Options{}, &ds)
	if ds.HasErrors() {
		t.Fatal(ds.Err(), ds.Items())
	}
	db := openDB(t)
	exec(t, db, `CREATE TABLE t ("meshflow rule 0" BIGINT)`, `INSERT INTO t VALUES (1), (NULL), (3)`)
	rep, err := set.Evaluate(t.Context(), db, "t", EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rules {
		got = append(got, fmt.Sprintf("%s %s %d", r.Kind, r.Status, r.Failing))
	}
	// The required column fails on its one null row; one null is fewer
	// than two, so the null count (one) holds; the column's maximum, read
	// beside the predicates, is 3.
	if want := "[row fail 1 row pass 1 dataset pass 0]"; fmt.Sprint(got) != want {
		t.Errorf("rules %v, want %s", got, want)
	}
}
