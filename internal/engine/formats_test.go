package engine

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/meshflow/meshflow/internal/refresh"
)

// formatsDB opens a sandboxed engine whose run folder is dir.
func formatsDB(t *testing.T, dir string) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(dir, "transform"), 1, "256MB", 64<<20, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func writeFile(t *testing.T, dir, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstded(t *testing.T, s string) []byte {
	var b bytes.Buffer
	z, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	z.Write([]byte(s))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJSONArraysAndLines: a .json file holding one array of records reads like
// newline-delimited JSON, alone or next to one, and nulls stay nulls.
func TestJSONArraysAndLines(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	array := writeFile(t, dir, "0000.jsonl", []byte("\ufeff  [\n {\"id\": 1, \"city\": \"Berlin\"},\n {\"id\": 2, \"city\": null}\n]\n"))
	lines := writeFile(t, dir, "0001.jsonl", []byte(`{"id": 3, "city": "Rome", "extra": true}`+"\n"))
	n, err := db.LoadInput(t.Context(), Input{Name: "a", Format: refresh.FormatJSON, Files: []string{array}})
	if err != nil || n != 2 {
		t.Fatalf("array: %d rows, %v; want 2", n, err)
	}
	n, err = db.LoadInput(t.Context(), Input{Name: "mixed", Format: refresh.FormatJSON, Files: []string{array, lines}})
	if err != nil || n != 3 {
		t.Fatalf("array and lines: %d rows, %v; want 3", n, err)
	}
	var nulls int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM mixed WHERE city IS NULL`).Scan(&nulls); err != nil || nulls != 1 {
		t.Fatalf("null cities %d, %v; want 1", nulls, err)
	}
	bad := writeFile(t, dir, "0002.jsonl", []byte(`[{"id": 1}, {"id": `))
	if _, err := db.LoadInput(t.Context(), Input{Name: "bad", Format: refresh.FormatJSON, Files: []string{bad}}); err == nil {
		t.Fatal("a truncated JSON array loaded")
	}
}

// TestCompressedInputs: gzip and zstd CSV and JSON lines read as their plain
// forms, and a malformed compressed CSV is reported by its line.
func TestCompressedInputs(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	csvText := "id,city\n1,Berlin\n2,Paris\n3,Rome\n"
	jsonText := `{"id":1}` + "\n" + `{"id":2}` + "\n"
	for _, tc := range []struct {
		name   string
		format refresh.Format
		body   []byte
		rows   int64
	}{
		{"0000.csv.gz", refresh.FormatCSV, gzipped(t, csvText), 3},
		{"0001.csv.zst", refresh.FormatCSV, zstded(t, csvText), 3},
		{"0002.jsonl.gz", refresh.FormatJSON, gzipped(t, jsonText), 2},
		{"0003.jsonl.zst", refresh.FormatJSON, zstded(t, jsonText), 2},
		{"0004.jsonl.gz", refresh.FormatJSON, gzipped(t, `[{"id":1},{"id":2},{"id":3}]`), 3},
	} {
		f := writeFile(t, dir, tc.name, tc.body)
		n, err := db.LoadInput(t.Context(), Input{Name: "t", Format: tc.format, Files: []string{f}})
		if err != nil || n != tc.rows {
			t.Errorf("%s: %d rows, %v; want %d", tc.name, n, err, tc.rows)
		}
	}
	bad := writeFile(t, dir, "0005.csv.gz", gzipped(t, "id,city\n1,Berlin\n2,\"Paris\n"))
	_, err := db.LoadInput(t.Context(), Input{Name: "bad", Format: refresh.FormatCSV, Files: []string{bad}})
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("a malformed gzip CSV: %v; want its line named", err)
	}
	notGzip := writeFile(t, dir, "0006.csv.gz", []byte("id\n1\n"))
	if _, err := db.LoadInput(t.Context(), Input{Name: "bad", Format: refresh.FormatCSV, Files: []string{notGzip}}); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("plain text named .gz: %v; want a gzip error", err)
	}
}

func TestFormatOfNameLooksThroughCompression(t *testing.T) {
	for name, want := range map[string]refresh.Format{
		"a.csv": refresh.FormatCSV, "a.CSV.GZ": refresh.FormatCSV, "a.json.zst": refresh.FormatJSON,
		"a.parquet": refresh.FormatParquet, "a.gz": "", "a.txt.zst": refresh.FormatCSV,
	} {
		if got := refresh.FormatOfName(name); got != want {
			t.Errorf("FormatOfName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestEmptyFiles: an input whose files are all empty says so; an empty file
// next to others adds no rows.
func TestEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	empty := writeFile(t, dir, "0000.csv", nil)
	full := writeFile(t, dir, "0001.csv", []byte("id\n1\n2\n"))
	emptyJSON := writeFile(t, dir, "0002.jsonl", nil)
	for _, in := range []Input{{Name: "e", Format: refresh.FormatCSV, Files: []string{empty}}, {Name: "j", Format: refresh.FormatJSON, Files: []string{emptyJSON}}} {
		_, err := db.LoadInput(t.Context(), in)
		if err == nil || !strings.Contains(err.Error(), "is empty") {
			t.Errorf("%s: %v; want it named empty", in.Name, err)
		}
	}
	n, err := db.LoadInput(t.Context(), Input{Name: "both", Format: refresh.FormatCSV, Files: []string{empty, full}})
	if err != nil || n != 2 {
		t.Fatalf("an empty file next to a full one: %d rows, %v; want 2", n, err)
	}
}

// TestBadRowsQuarantine: with bad rows quarantined, a CSV with a short and a
// long line and JSON lines with a broken line keep their good rows, and every
// bad line is kept with its file, line and error; without, the load fails.
func TestBadRowsQuarantine(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	csvFile := writeFile(t, dir, "0000.csv.gz", gzipped(t, "id,city\n1,Berlin\n2\n3,Rome,extra\n4,Paris\n"))
	jsonFile := writeFile(t, dir, "0001.jsonl", []byte(`{"id":1}`+"\n"+`{"id":`+"\n"+`[1,2]`+"\n\n"+`{"id":4}`+"\n"))
	if _, err := db.LoadInput(t.Context(), Input{Name: "strict", Format: refresh.FormatCSV, Files: []string{csvFile}}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad rows without quarantine: %v; want the load to fail naming the line", err)
	}
	n, err := db.LoadInput(t.Context(), Input{Name: "orders", Format: refresh.FormatCSV, Files: []string{csvFile}, BadRows: refresh.BadRowsQuarantine})
	if err != nil || n != 2 {
		t.Fatalf("csv: %d rows, %v; want the 2 good rows", n, err)
	}
	n, err = db.LoadInput(t.Context(), Input{Name: "events", Format: refresh.FormatJSON, Files: []string{jsonFile}, BadRows: refresh.BadRowsQuarantine})
	if err != nil || n != 2 {
		t.Fatalf("json lines: %d rows, %v; want the 2 good rows", n, err)
	}
	rejected, err := db.Rejected(t.Context())
	if err != nil || rejected != 4 {
		t.Fatalf("rejected %d, %v; want 4", rejected, err)
	}
	rows, err := db.QueryContext(t.Context(), "SELECT input, file, line, error, raw FROM "+RejectsTable+" ORDER BY input, line")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var input, msg, raw string
		var file int
		var line int64
		if err := rows.Scan(&input, &file, &line, &msg, &raw); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d:%d %s [%s]", input, file, line, msg, raw))
	}
	want := []string{
		"events:1:2 not valid JSON [{\"id\":]",
		"events:1:3 not a JSON object [[1,2]]",
		"orders:1:3 wrong number of fields [2]",
		"orders:1:4 wrong number of fields [3,Rome,extra]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rejects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBadRowsCopyIsBounded: the readable copy of a small compressed file that
// expands past the budget stops with ErrCopyTooLarge instead of filling the disk.
func TestBadRowsCopyIsBounded(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	big := writeFile(t, dir, "0000.csv.gz", gzipped(t, "id\n"+strings.Repeat("1\n", 1<<20)))
	_, err := db.LoadInput(t.Context(), Input{Name: "bomb", Format: refresh.FormatCSV, Files: []string{big}, BadRows: refresh.BadRowsQuarantine, MaxCopyBytes: 64 << 10})
	if !errors.Is(err, ErrCopyTooLarge) {
		t.Fatalf("a copy past its budget: %v; want ErrCopyTooLarge", err)
	}
	if n, err := db.LoadInput(t.Context(), Input{Name: "fits", Format: refresh.FormatCSV, Files: []string{big}, BadRows: refresh.BadRowsQuarantine, MaxCopyBytes: 8 << 20}); err != nil || n != 1<<20 {
		t.Fatalf("the same file within 8 MiB: %d rows, %v", n, err)
	}
}

// TestOneHugeLineIsRefused: a line longer than MaxLineBytes (a small gzip that
// expands to one enormous line) is refused without being held in memory.
func TestOneHugeLineIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(`{"id":"`))
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range MaxLineBytes>>20 + 1 {
		z.Write(chunk)
	}
	z.Write([]byte("\"}\n"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, dir, "0000.jsonl.gz", b.Bytes())
	_, err := db.LoadInput(t.Context(), Input{Name: "huge", Format: refresh.FormatJSON, Files: []string{f}, BadRows: refresh.BadRowsQuarantine})
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("one huge line: %v; want ErrLineTooLong", err)
	}
	b.Reset()
	z = gzip.NewWriter(&b)
	z.Write([]byte("id\n"))
	for range MaxLineBytes>>20 + 1 {
		z.Write(chunk)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	csvFile := writeFile(t, dir, "0001.csv.gz", b.Bytes())
	if _, err := db.LoadInput(t.Context(), Input{Name: "hugecsv", Format: refresh.FormatCSV, Files: []string{csvFile}}); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("one huge CSV line: %v; want ErrLineTooLong", err)
	}
}

// TestColumnStats: one pass gives each column's nulls and distinct count, and a
// numeric column's minimum and maximum.
func TestColumnStats(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	f := filepath.Join(dir, "data.parquet")
	if _, err := db.ExecContext(t.Context(), `COPY (SELECT * FROM (VALUES (1, 'a', 2.5), (2, NULL, NULL), (3, 'a', -1.0)) t(id, "city name", amount)) TO `+Quote(f)+` (FORMAT parquet)`); err != nil {
		t.Fatal(err)
	}
	stats, err := db.ColumnStats(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range stats {
		line := fmt.Sprintf("%s nulls=%d distinct=%d", s.Name, s.Nulls, s.Distinct)
		if s.Min != nil && s.Max != nil {
			line += fmt.Sprintf(" min=%g max=%g", *s.Min, *s.Max)
		}
		got = append(got, line)
	}
	want := []string{"id nulls=0 distinct=3 min=1 max=3", "city name nulls=1 distinct=1", "amount nulls=1 distinct=2 min=-1 max=2.5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stats:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFingerprint: the same rows in another order, and a file written
// another way, have the same fingerprint; one changed value, one duplicated
// row or a renamed column change it.
func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	db := formatsDB(t, dir)
	write := func(name, query, opts string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		if _, err := db.ExecContext(t.Context(), "COPY ("+query+") TO "+Quote(f)+" (FORMAT parquet"+opts+")"); err != nil {
			t.Fatal(err)
		}
		return f
	}
	fp := func(f string) string {
		t.Helper()
		s, err := db.Fingerprint(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := fp(write("a.parquet", `SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, 'c')) t(id, name)`, ""))
	same := map[string]string{
		"other order":       write("b.parquet", `SELECT * FROM (VALUES (3, 'c'), (1, 'a'), (2, NULL)) t(id, name)`, ""),
		"other compression": write("c.parquet", `SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, 'c')) t(id, name)`, ", COMPRESSION zstd, ROW_GROUP_SIZE 1"),
	}
	for why, f := range same {
		if got := fp(f); got != base {
			t.Errorf("%s: fingerprint %s, want %s", why, got, base)
		}
	}
	other := map[string]string{
		"changed value":  write("d.parquet", `SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, 'd')) t(id, name)`, ""),
		"duplicated row": write("e.parquet", `SELECT * FROM (VALUES (1, 'a'), (1, 'a'), (2, NULL), (3, 'c')) t(id, name)`, ""),
		"renamed column": write("f.parquet", `SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, 'c')) t(id, label)`, ""),
	}
	for why, f := range other {
		if got := fp(f); got == base {
			t.Errorf("%s: fingerprint %s is the unchanged one", why, got)
		}
	}
	if !strings.HasPrefix(base, "rows-v1:") {
		t.Errorf("fingerprint %q does not say its kind", base)
	}
}
