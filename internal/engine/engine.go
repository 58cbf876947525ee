// Package engine is meshflow's transform engine: an in-process DuckDB database per
// stage, on local scratch, that reads staged inputs (CSV, JSON lines, Parquet),
// runs a product's SQL and writes Parquet. DuckDB errors about the data (a
// malformed CSV row, a missing file) and about the SQL are told apart so that the
// activities can end a run with a clear, non-retryable error.
package engine

import (
	"bufio"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
	"github.com/klauspost/compress/zstd"
	"github.com/meshflow/meshflow/internal/engine/sqlcheck"
	"github.com/meshflow/meshflow/internal/refresh"
)

// DB is a DuckDB database for one stage of one run.
type DB struct {
	*sql.DB
}

// Open starts an in-memory DuckDB whose spill files go to scratch. Threads and
// memory are bounded so that several stages can share a worker; maxTemp > 0
// bounds the spill files, in bytes (a query that needs more fails with an error
// IsTempLimit recognises).
//
// The database is a sandbox for a product's SQL: once configured it reads and
// writes files only in scratch and the folders in allow (a run's inputs and
// output), with external access off otherwise (no other files, no network, no
// extensions to install or load, no ATTACH outside) and its configuration
// locked, so that no statement can change these settings back.
func Open(ctx context.Context, scratch string, threads int, memoryLimit string, maxTemp int64, allow ...string) (*DB, error) {
	return open(ctx, scratch, threads, memoryLimit, maxTemp, nil, allow)
}

// warm holds DuckDB instances created ahead of time and not configured yet.
// Creating an instance (its buffer manager, thread pool and built-in
// extensions) takes about 10 ms of a tiny refresh's 200; a worker keeps one
// ready (KeepWarm), so that a stage takes it at once and the next one is
// created while the stage runs.
var warm struct {
	sync.Mutex
	keep int
	dbs  []*sql.DB
	// filling is set while a goroutine creates instances.
	filling bool
}

// KeepWarm makes Open keep n DuckDB instances created ahead of time (the
// worker keeps one); 0, the default, creates each one when it is opened.
func KeepWarm(n int) {
	warm.Lock()
	warm.keep = n
	warm.Unlock()
	refill()
}

// instance returns a new, unconfigured DuckDB instance: a warm one when
// there is one, and starts creating its successor.
func instance() (*sql.DB, error) {
	warm.Lock()
	var db *sql.DB
	if n := len(warm.dbs); n > 0 {
		db, warm.dbs = warm.dbs[n-1], warm.dbs[:n-1]
	}
	warm.Unlock()
	refill()
	if db != nil {
		return db, nil
	}
	return sql.Open("duckdb", "")
}

// refill creates instances in the background until warm holds keep of them.
func refill() {
	warm.Lock()
	if warm.filling || len(warm.dbs) >= warm.keep {
		warm.Unlock()
		return
	}
	warm.filling = true
	warm.Unlock()
	go func() {
		for {
			db, err := sql.Open("duckdb", "")
			warm.Lock()
			if err != nil || len(warm.dbs) >= warm.keep {
				warm.filling = false
				warm.Unlock()
				if db != nil {
					_ = db.Close()
				}
				return
			}
			warm.dbs = append(warm.dbs, db)
			full := len(warm.dbs) >= warm.keep
			if full {
				warm.filling = false
			}
			warm.Unlock()
			if full {
				return
			}
		}
	}()
}

// open is Open with a hook that configures the database further before the
// sandbox locks its configuration; a nil hook does nothing.
func open(ctx context.Context, scratch string, threads int, memoryLimit string, maxTemp int64, configure func(context.Context, *sql.DB) error, allow []string) (*DB, error) {
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db, err := instance()
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db.SetMaxOpenConns(1) // one connection: views and temporary tables stay visible
	settings := []string{
		"SET temp_directory = " + Quote(filepath.Join(scratch, "duckdb-tmp")),
	}
	if threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", threads))
	}
	if memoryLimit != "" {
		settings = append(settings, "SET memory_limit = "+Quote(memoryLimit))
	}
	if maxTemp > 0 {
		settings = append(settings, fmt.Sprintf("SET max_temp_directory_size = '%dKiB'", max(1, maxTemp>>10)))
	}
	for _, s := range settings {
		if _, err := db.ExecContext(ctx, s); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("configure duckdb (%s): %w", s, err)
		}
	}
	if configure != nil {
		if err := configure(ctx, db); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("configure duckdb: %w", err)
		}
	}
	for _, s := range sandbox(scratch, allow) {
		if _, err := db.ExecContext(ctx, s); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("configure duckdb (%s): %w", s, err)
		}
	}
	return &DB{DB: db}, nil
}

// sandbox returns the settings that confine the SQL to scratch and allow, in the
// order DuckDB needs: allowed_directories can only be set while external access
// is on, and nothing can be set once the configuration is locked. They come after
// the engine's own settings.
func sandbox(scratch string, allow []string) []string {
	dirs := make([]string, 0, len(allow)+1)
	for _, d := range append([]string{scratch}, allow...) {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		dirs = append(dirs, Quote(d))
	}
	return []string{
		"SET allowed_directories = [" + strings.Join(dirs, ", ") + "]",
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	}
}

// IsTempLimit reports whether err is DuckDB refusing to spill past
// max_temp_directory_size.
func IsTempLimit(err error) bool {
	return err != nil && strings.Contains(err.Error(), "max_temp_directory_size")
}

// Quote returns s as a SQL string literal.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Ident returns s as a quoted SQL identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Input describes local files to expose to SQL as one table.
type Input struct {
	Name      string
	Format    refresh.Format
	Files     []string
	Delimiter string
	// Header says whether CSV files start with a header row; nil means yes.
	Header *bool
	// BadRows is refresh.BadRowsQuarantine to set unreadable CSV records and
	// JSON lines aside in RejectsTable instead of failing the load.
	BadRows refresh.BadRows
	// MaxCopyBytes bounds the readable copies BadRowsQuarantine writes (0: no
	// bound), so that a small compressed file cannot fill the disk.
	MaxCopyBytes int64
}

// DataError is a problem with input data (malformed rows, unreadable files).
type DataError struct {
	Input string
	Err   error
}

func (e *DataError) Error() string { return fmt.Sprintf("input %s: %v", e.Input, cleanError(e.Err)) }
func (e *DataError) Unwrap() error { return e.Err }

// SQLError is a problem with a product's SQL.
type SQLError struct{ Err error }

func (e *SQLError) Error() string {
	s := cleanError(e.Err)
	if strings.Contains(s, "disabled by configuration") {
		s = "the SQL runs in a sandbox and reads only its inputs, as tables by their names: " + s
	}
	return s
}
func (e *SQLError) Unwrap() error { return e.Err }

// cleanError shortens DuckDB's messages to what a user needs.
func cleanError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "Invalid Input Error: ")
	return strings.TrimSpace(s)
}

// LoadInput materialises an input as a table named in.Name, reading every row so
// that malformed data is found here, with its file and line, and not later.
func (d *DB) LoadInput(ctx context.Context, in Input) (int64, error) {
	if len(in.Files) == 0 {
		return 0, &DataError{Input: in.Name, Err: errors.New("no files to read")}
	}
	// Empty files hold no rows and no columns; reading them would only end in a
	// binder error about a missing column later.
	in.Files = slices.DeleteFunc(slices.Clone(in.Files), func(f string) bool {
		fi, err := os.Stat(f)
		return err == nil && fi.Size() == 0
	})
	if len(in.Files) == 0 {
		return 0, &DataError{Input: in.Name, Err: errors.New("every file of the input is empty: it holds no rows and no columns; check the source, or give the file at least a header")}
	}
	files := make([]string, len(in.Files))
	for i, f := range in.Files {
		files[i] = Quote(f)
	}
	var rejects []Reject
	if in.BadRows == refresh.BadRowsQuarantine {
		split, rs, err := splitBadRows(in, in.MaxCopyBytes)
		if err != nil {
			return 0, &DataError{Input: in.Name, Err: err}
		}
		in.Files, rejects = split, rs
		for i, f := range in.Files {
			files[i] = Quote(f)
		}
	}
	list := "[" + strings.Join(files, ", ") + "]"
	var src string
	switch in.Format {
	case refresh.FormatCSV:
		if err := d.loadCSV(ctx, in, list); err != nil {
			return 0, err
		}
	case refresh.FormatJSON:
		// A file is either one JSON array of records or newline-delimited
		// records; each is read in its own form, and the forms are unioned by
		// column name.
		var arrays, lines []string
		for i, f := range in.Files {
			isArray, err := jsonIsArray(f)
			if err != nil {
				return 0, &DataError{Input: in.Name, Err: fmt.Errorf("file %d of %d: %w", i+1, len(in.Files), err)}
			}
			if isArray {
				arrays = append(arrays, Quote(f))
			} else {
				lines = append(lines, Quote(f))
			}
		}
		var parts []string
		if len(arrays) > 0 {
			parts = append(parts, fmt.Sprintf("SELECT * FROM read_json([%s], format = 'array', sample_size = -1)", strings.Join(arrays, ", ")))
		}
		if len(lines) > 0 {
			parts = append(parts, fmt.Sprintf("SELECT * FROM read_json([%s], format = 'newline_delimited', sample_size = -1)", strings.Join(lines, ", ")))
		}
		src = "(" + strings.Join(parts, " UNION ALL BY NAME ") + ")"
	case refresh.FormatParquet:
		src = fmt.Sprintf("read_parquet(%s)", list)
	default:
		return 0, &DataError{Input: in.Name, Err: fmt.Errorf("unsupported format %q", in.Format)}
	}
	if src != "" {
		if err := d.createFrom(ctx, in.Name, src); err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, &DataError{Input: in.Name, Err: err}
		}
	}
	if len(rejects) > 0 {
		if err := d.storeRejects(ctx, rejects); err != nil {
			return 0, fmt.Errorf("input %s: keep its %d unreadable lines: %w", in.Name, len(rejects), err)
		}
	}
	return d.Count(ctx, in.Name)
}

// Rejected returns how many input lines LoadInput set aside in RejectsTable.
func (d *DB) Rejected(ctx context.Context) (int64, error) {
	var n int64
	err := d.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_tables() WHERE table_name = "+Quote(RejectsTable)).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	return d.Count(ctx, RejectsTable)
}

// Count returns the number of rows of a table.
func (d *DB) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	if err := d.QueryRowContext(ctx, "SELECT count(*) FROM "+Ident(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// createFrom creates (or replaces) table name from what src reads.
func (d *DB) createFrom(ctx context.Context, name, src string) error {
	_, err := d.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM %s", Ident(name), src))
	return err
}

// loadCSV creates the input's table from its CSV files (list, quoted).
//
// The structure of every file is checked (checkCSV) while DuckDB reads
// them, and a malformed row is reported by its line rather than as a failed
// sniff; an explicit delimiter keeps the sniffer from explaining a malformed
// row away with another dialect.
//
// The columns' types are sniffed from the whole file (sample_size = -1),
// which costs about as much as reading it again. Sniffing only the first
// rows, DuckDB's default, would be wrong without a word: a column of
// integers with a decimal further down is read as integers, the decimal
// rounded, and a quoted field further down keeps its quotes
// (TestWholeFileTypes).
func (d *DB) loadCSV(ctx context.Context, in Input, list string) error {
	header := in.Header == nil || *in.Header
	delim := in.Delimiter
	if delim == "" {
		delim = ","
	}
	src := fmt.Sprintf("read_csv(%s, header = %t, auto_detect = true, strict_mode = true, null_padding = false, sample_size = -1, delim = %s)",
		list, header, Quote(delim))

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	checked := make(chan error, 1)
	go func() {
		for i, f := range in.Files {
			if err := checkCSV(f, delim); err != nil {
				cancel() // the read's result no longer matters
				checked <- fmt.Errorf("file %d of %d: %w", i+1, len(in.Files), err)
				return
			}
		}
		checked <- nil
	}()
	err := d.createFrom(rctx, in.Name, src)
	if cerr := <-checked; cerr != nil {
		return &DataError{Input: in.Name, Err: cerr}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &DataError{Input: in.Name, Err: err}
	}
	return nil
}

// Run creates table name from a query. The query must be exactly one SELECT or
// WITH statement (package sqlcheck, with DuckDB's parser); anything else is an
// *SQLError and is not run.
func (d *DB) Run(ctx context.Context, name, query string) (int64, error) {
	q := strings.TrimRight(strings.TrimSpace(query), ";")
	if err := sqlcheck.Check(ctx, d.DB, q); err != nil {
		if _, ok := errors.AsType[*sqlcheck.Error](err); ok {
			return 0, &SQLError{Err: err}
		}
		return 0, err
	}
	if _, err := d.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s", Ident(name), q)); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &SQLError{Err: err}
	}
	return d.Count(ctx, name)
}

// Column is a column of a table with its DuckDB type.
type Column struct {
	Name string
	Type string
}

// Columns returns the columns of a table, in order.
func (d *DB) Columns(ctx context.Context, table string) ([]Column, error) {
	// pragma_table_info reads one table's entry; information_schema.columns
	// joins the whole catalog and costs tens of milliseconds each time.
	rows, err := d.QueryContext(ctx, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", table, err)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var c Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, fmt.Errorf("describe %s: %w", table, err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// WriteParquet writes a table to a Parquet file.
func (d *DB) WriteParquet(ctx context.Context, table, path string) error {
	q := fmt.Sprintf("COPY %s TO %s (FORMAT parquet, COMPRESSION zstd)", Ident(table), Quote(path))
	if _, err := d.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("write %s to parquet: %w", table, err)
	}
	return nil
}

// LoadParquet creates table name from a Parquet file.
func (d *DB) LoadParquet(ctx context.Context, name, path string) error {
	q := fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM read_parquet(%s)", Ident(name), Quote(path))
	if _, err := d.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

// checkCSV reads a CSV file's structure: every record must have as many fields as
// the first, and quotes must be balanced. The error names the line.
func checkCSV(file, delim string) error {
	f, err := openDecompressed(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(&lineGuard{r: f}, 1<<20))
	r.ReuseRecord = true
	if d := []rune(delim); len(d) == 1 {
		r.Comma = d[0]
	}
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return fmt.Errorf("line %d: %v", pe.Line, pe.Err)
		}
		if err != nil {
			return err
		}
	}
}

// openDecompressed opens a file, decompressing it when its name ends in .gz
// (gzip) or .zst (zstd), as DuckDB's readers do.
func openDecompressed(file string) (io.ReadCloser, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".gz":
		z, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("not gzip data: %w", err)
		}
		return readCloser{Reader: z, close: func() error { z.Close(); return f.Close() }}, nil
	case ".zst":
		z, err := zstd.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("not zstd data: %w", err)
		}
		return readCloser{Reader: z, close: func() error { z.Close(); return f.Close() }}, nil
	}
	return f, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// jsonIsArray reports whether a JSON file holds one array (its first
// non-space byte is '['), rather than newline-delimited records.
func jsonIsArray(file string) (bool, error) {
	f, err := openDecompressed(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(io.LimitReader(f, 1<<20))
	for {
		b, err := br.ReadByte()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // a UTF-8 byte order mark
			continue
		case 0xBB, 0xBF:
			continue
		}
		return b == '[', nil
	}
}
