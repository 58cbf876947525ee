package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
)

// TestWholeFileTypes: a CSV file whose first rows, those DuckDB's sniffer
// reads by default (20,480), say less than the rest (a column empty until
// then, integers until a decimal, unquoted until a quoted field, a date
// column that turns into text) loads with the columns and values that
// DuckDB's whole-file sniff gives. With the default sniff, the decimal is
// rounded to an integer and the quoted field keeps its quotes.
func TestWholeFileTypes(t *testing.T) {
	late := 20480 + 500
	cases := map[string]struct {
		header string
		row    func(i int) string
	}{
		"empty until late": {"id,note", func(i int) string {
			if i < late {
				return fmt.Sprintf("%d,", i)
			}
			return fmt.Sprintf("%d,%d", i, i*2)
		}},
		"decimal late": {"id,amount", func(i int) string {
			if i == late {
				return fmt.Sprintf("%d,%d.5", i, i)
			}
			return fmt.Sprintf("%d,%d", i, i)
		}},
		"quoted late": {"id,city", func(i int) string {
			if i == late {
				return fmt.Sprintf(`%d,"Paris, France"`, i)
			}
			return fmt.Sprintf("%d,Lyon", i)
		}},
		"quotes without delimiter late": {"id,city", func(i int) string {
			if i == late {
				return fmt.Sprintf(`%d,"Paris"`, i)
			}
			return fmt.Sprintf("%d,Lyon", i)
		}},
		"date then text": {"id,day", func(i int) string {
			if i == late {
				return fmt.Sprintf("%d,unknown", i)
			}
			return fmt.Sprintf("%d,2026-01-%02d", i, 1+i%28)
		}},
		"nothing late": {"id,day", func(i int) string { return fmt.Sprintf("%d,2026-01-%02d", i, 1+i%28) }},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var b strings.Builder
			b.WriteString(c.header + "\n")
			for i := range late + 100 {
				b.WriteString(c.row(i) + "\n")
			}
			file := writeFile(t, dir, "in.csv", []byte(b.String()))
			db := formatsDB(t, dir)
			n, err := db.LoadInput(t.Context(), Input{Name: "quick", Format: refresh.FormatCSV, Files: []string{file}})
			if err != nil || n != int64(late+100) {
				t.Fatalf("LoadInput: %d rows, %v", n, err)
			}
			if err := db.createFrom(t.Context(), "whole", "read_csv(["+Quote(file)+"], header = true, auto_detect = true, strict_mode = true, null_padding = false, delim = ',', sample_size = -1)"); err != nil {
				t.Fatal(err)
			}
			got, err := db.Columns(t.Context(), "quick")
			if err != nil {
				t.Fatal(err)
			}
			want, err := db.Columns(t.Context(), "whole")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("columns %v, want the whole file's %v", got, want)
			}
			var differ int64
			if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM ((SELECT * FROM quick EXCEPT ALL SELECT * FROM whole) UNION ALL (SELECT * FROM whole EXCEPT ALL SELECT * FROM quick))").Scan(&differ); err != nil || differ != 0 {
				t.Fatalf("%d rows differ from the whole-file read, %v", differ, err)
			}
		})
	}
}
