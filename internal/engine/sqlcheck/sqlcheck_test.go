package sqlcheck

import (
	"errors"
	"testing"
)

func TestCheckText(t *testing.T) {
	cases := []struct {
		sql  string
		want string // "" means accepted
		line int    // where the error points, when want is set
		col  int
	}{
		{"SELECT 1", "", 0, 0},
		{"SELECT 1;", "", 0, 0},
		{"SELECT 1; -- the end\n", "", 0, 0},
		{"WITH a AS (SELECT 1 AS x) SELECT x FROM a", "", 0, 0},
		{"SELECT 'a;b', \"c;d\" FROM t -- x;y\n/* ; */", "", 0, 0},
		{"SELECT $q$;$q$ AS s, E'\\';' AS e", "", 0, 0},
		{"FROM orders", "", 0, 0},
		{"VALUES (1), (2)", "", 0, 0},
		{"SELECT 1 UNION ALL SELECT 2", "", 0, 0},
		{"SELECT city, sum(units) FROM orders GROUP BY ALL", "", 0, 0},

		{"SELECT 1; SELECT 2", "must be one SELECT or WITH statement; found a second query (statement 2 of 2) at line 1, column 11 of the SQL", 1, 11},
		{"SELECT 1; DROP TABLE t", "must be one SELECT or WITH statement; found DROP (statement 2 of 2) at line 1, column 11 of the SQL", 1, 11},
		{"SELECT 'a;b'\nFROM t;\n  COPY (SELECT 1) TO '/tmp/x.csv'", "must be one SELECT or WITH statement; found COPY (statement 2 of 2) at line 3, column 3 of the SQL", 3, 3},
		{"COPY (SELECT 1) TO 'x.csv'", "must be one SELECT or WITH statement; found COPY", 1, 1},
		{"-- forge a grant\nCOPY (SELECT 1) TO 's3://bucket/_grants/x'", "must be one SELECT or WITH statement; found COPY", 2, 1},
		{"ATTACH 'x.db'", "must be one SELECT or WITH statement; found ATTACH", 1, 1},
		{"INSTALL httpfs", "must be one SELECT or WITH statement; found INSTALL", 1, 1},
		{"LOAD httpfs", "must be one SELECT or WITH statement; found LOAD", 1, 1},
		{"SET enable_external_access = true", "must be one SELECT or WITH statement; found SET", 1, 1},
		{"RESET threads", "must be one SELECT or WITH statement; found RESET", 1, 1},
		{"PRAGMA version", "must be one SELECT or WITH statement; found PRAGMA", 1, 1},
		{"EXPORT DATABASE 'x'", "must be one SELECT or WITH statement; found EXPORT", 1, 1},
		{"CALL duckdb_settings()", "must be one SELECT or WITH statement; found CALL", 1, 1},
		{"CREATE TABLE x AS SELECT 1", "must be one SELECT or WITH statement; found CREATE", 1, 1},
		{"EXPLAIN SELECT 1", "must be one SELECT or WITH statement; found EXPLAIN", 1, 1},
		{"WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "must be one SELECT or WITH statement; found a WITH that DuckDB does not run as one query (such as WITH … INSERT, or a PIVOT without an IN list)", 1, 1},
		{"SELECT * FROM (PIVOT t ON a USING sum(x))", "must be one SELECT or WITH statement; found a SELECT that DuckDB does not run as one query (such as WITH … INSERT, or a PIVOT without an IN list)", 1, 1},
		{"PIVOT t ON a USING sum(x)", "must be one SELECT or WITH statement; found PIVOT (a PIVOT statement runs as several; write SELECT * FROM (PIVOT … ON … IN (…) USING …))", 1, 1},
		{"SELECT * FROM (PIVOT t ON a IN ('x', 'y') USING sum(x))", "", 0, 0},
		{"SELECT 1; ATTACH ':memory:' AS m; SELECT 2", "must be one SELECT or WITH statement; found ATTACH (statement 2 of 3) at line 1, column 11 of the SQL", 1, 11},
		{"-- nothing\n", "must be one SELECT or WITH statement; found no statement, only blanks and comments", 1, 1},
		{"SELECT 1;\nSELEC 2", "syntax error at or near \"SELEC\" at line 2, column 1 of the SQL", 2, 1},
	}
	for _, tc := range cases {
		err := CheckText(t.Context(), tc.sql)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v, want it accepted", tc.sql, err)
			}
			continue
		}
		ce, ok := errors.AsType[*Error](err)
		if !ok {
			t.Errorf("%q: %v, want a refusal", tc.sql, err)
			continue
		}
		if ce.Error() != tc.want || ce.Line != tc.line || ce.Col != tc.col {
			t.Errorf("%q:\n got %q at %d:%d\nwant %q at %d:%d", tc.sql, ce.Error(), ce.Line, ce.Col, tc.want, tc.line, tc.col)
		}
	}
}

func TestSplit(t *testing.T) {
	text := "SELECT ';' AS a, \"x;\" -- ;\n/* /* ; */ ; */ FROM t; SELECT $$;$$, $1; E'\\';'"
	var parts []string
	for _, s := range split(text) {
		parts = append(parts, text[s.start:s.end])
	}
	want := []string{"SELECT ';' AS a, \"x;\" -- ;\n/* /* ; */ ; */ FROM t;", " SELECT $$;$$, $1;", " E'\\';'"}
	if len(parts) != len(want) {
		t.Fatalf("split into %q, want %q", parts, want)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d is %q, want %q", i, parts[i], want[i])
		}
	}
}
