package engine

import (
	"fmt"
	"strings"
	"testing"
)

// TestLineage checks the column lineage DuckDB's plans give for the shapes of
// SQL products use: each output column must name every table column its value
// depends on (through filters, joins, grouping, ordering, set operations and
// windows), and no column it does not read where DuckDB can tell.
func TestLineage(t *testing.T) {
	tables := []Table{
		{Name: "airports", Columns: []Column{{"code", "VARCHAR"}, {"city", "VARCHAR"}, {"elevation ft", "BIGINT"}, {"lat", "DOUBLE"}}},
		{Name: "films", Columns: []Column{{"title", "VARCHAR"}, {"code", "VARCHAR"}}},
	}
	for _, tc := range []struct {
		name, sql string
		want      []string // one per output column: "name: table.column, ..."
	}{
		{"expressions", `SELECT code, upper(city) AS town, "elevation ft" * 0.3 AS "elevation m" FROM airports`,
			[]string{"code: airports.code", "town: airports.city", "elevation m: airports.elevation ft"}},
		{"filter and join", `SELECT f.title, a.city FROM films f JOIN airports a USING (code) WHERE a.lat > 50`,
			[]string{"title: airports.code airports.lat films.code films.title", "city: airports.city airports.code airports.lat films.code"}},
		{"group and order", `SELECT city, count(*) AS n FROM airports GROUP BY city ORDER BY n DESC LIMIT 3`,
			[]string{"city: airports.city", "n: airports.city"}},
		{"order by a column not selected", `SELECT code FROM airports ORDER BY lat LIMIT 1`,
			[]string{"code: airports.code airports.lat"}},
		{"distinct union", `SELECT code, city FROM airports UNION SELECT code, title FROM films`,
			[]string{"code: airports.city airports.code films.code films.title", "city: airports.city airports.code films.code films.title"}},
		// DuckDB does not prune a window nothing reads: code counts the
		// window's columns too. Lineage may name more than an output needs,
		// never less.
		{"window", `SELECT code, row_number() OVER (PARTITION BY city ORDER BY lat) AS rn FROM airports`,
			[]string{"code: airports.city airports.code airports.lat", "rn: airports.city airports.lat"}},
		{"subquery in where", `SELECT title FROM films WHERE code IN (SELECT code FROM airports WHERE lat > 0)`,
			[]string{"title: airports.code airports.lat films.code films.title"}},
		{"star", `SELECT * FROM films`, []string{"title: films.title", "code: films.code"}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			got, err := Lineage(t.Context(), t.TempDir(), tables, tc.sql)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, c := range got {
				var reads []string
				for _, r := range c.Reads {
					reads = append(reads, r.Table+"."+r.Column)
				}
				lines = append(lines, fmt.Sprintf("%s: %s", c.Name, strings.Join(reads, " ")))
			}
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lineage of %s\ngot:\n%s\nwant:\n%s", tc.sql, strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	if _, err := Lineage(t.Context(), t.TempDir(), tables, "SELECT nope FROM films"); err == nil {
		t.Error("SQL that does not bind has a lineage")
	} else if _, ok := err.(*BindError); !ok {
		t.Errorf("SQL that does not bind: %T %v, want a *BindError", err, err)
	}
}
