package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/engine/sqlcheck"
	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
)

// QueryConfig bounds the queries of POST /api/v1/query; zero fields take the
// defaults of DefaultQueryConfig.
type QueryConfig struct {
	// Scratch is where each query gets its own folder, removed when it ends;
	// default os.TempDir()/meshflow-query.
	Scratch string
	// Timeout bounds a query, from the first download to the last row; default 30s.
	Timeout time.Duration
	// MemoryLimit is DuckDB's memory_limit, e.g. "512MB".
	MemoryLimit string
	// MaxTemp bounds DuckDB's spill files, in bytes.
	MaxTemp int64
	// Threads bounds DuckDB's threads.
	Threads int
	// DefaultRows is the row limit of a request that names none; MaxRows the
	// largest a request may ask for.
	DefaultRows, MaxRows int
	// MaxBytes bounds one answer, in bytes (JSON values as scanned, or the CSV or
	// Parquet file); a larger answer is refused with query_limit. Default 64 MiB.
	MaxBytes int64
	// MaxConcurrent bounds the queries that run at once on this server; others
	// wait for a turn within their timeout. Default 2.
	MaxConcurrent int
}

// DefaultQueryConfig returns the defaults of QueryConfig.
func DefaultQueryConfig() QueryConfig {
	return QueryConfig{Scratch: filepath.Join(os.TempDir(), "meshflow-query"), Timeout: 30 * time.Second, MemoryLimit: "512MB",
		MaxTemp: 1 << 30, Threads: 2, DefaultRows: 1000, MaxRows: 100000, MaxBytes: 64 << 20, MaxConcurrent: 2}
}

func (c QueryConfig) withDefaults() QueryConfig {
	d := DefaultQueryConfig()
	if c.Scratch == "" {
		c.Scratch = d.Scratch
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = d.MaxConcurrent
	}
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.MemoryLimit == "" {
		c.MemoryLimit = d.MemoryLimit
	}
	if c.MaxTemp <= 0 {
		c.MaxTemp = d.MaxTemp
	}
	if c.Threads <= 0 {
		c.Threads = d.Threads
	}
	if c.MaxRows <= 0 {
		c.MaxRows = d.MaxRows
	}
	if c.DefaultRows <= 0 {
		c.DefaultRows = min(d.DefaultRows, c.MaxRows)
	}
	return c
}

// productName is a product as a query names it: "<domain>/<name>", with
// "@<version>" for one version.
var productName = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]*)/([a-z0-9][a-z0-9_-]*)(?:@([0-9]+\.[0-9]+\.[0-9]+))?$`)

// productRef is a product a query reads.
type productRef struct {
	name, ref, version string
}

// queryProducts returns the products a query names: its double-quoted
// identifiers that hold a "/", outside string literals and comments. Every
// other identifier is left to DuckDB, which knows no tables but these.
func queryProducts(sql string) ([]productRef, *api.Error) {
	var out []productRef
	seen := map[string]bool{}
	for i := 0; i < len(sql); i++ {
		switch {
		case sql[i] == '\'':
			for i++; i < len(sql); i++ {
				if sql[i] == '\'' {
					if i+1 < len(sql) && sql[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
		case strings.HasPrefix(sql[i:], "--"):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return out, nil
			}
			i += 2 + end + 1
		case sql[i] == '"':
			var id strings.Builder
			for i++; i < len(sql); i++ {
				if sql[i] == '"' {
					if i+1 < len(sql) && sql[i+1] == '"' {
						id.WriteByte('"')
						i++
						continue
					}
					break
				}
				id.WriteByte(sql[i])
			}
			name := id.String()
			if !strings.Contains(name, "/") || seen[name] {
				continue
			}
			m := productName.FindStringSubmatch(name)
			if m == nil {
				return nil, api.Errorf(http.StatusBadRequest, "bad_query", `%q does not name a product: write "<domain>/<name>" or "<domain>/<name>@<major>.<minor>.<patch>"`, name)
			}
			seen[name] = true
			out = append(out, productRef{name: name, ref: m[1] + "/" + m[2], version: m[3]})
		}
	}
	return out, nil
}

// query answers POST /api/v1/query: the SQL runs in a sandboxed DuckDB of its
// own whose only tables are the products it names, each downloaded (checksum
// verified) into the query's own folder after the same access decision as a
// download; the database reads no other file.
func (s *Server) query(w http.ResponseWriter, r *http.Request, principal string) {
	var req api.QueryRequest
	if e := api.DecodeStrict(w, r, &req); e != nil {
		if e.Code == api.CodeUnknownField {
			e.Message += "; send sql, format and limit"
		}
		api.WriteError(w, e)
		return
	}
	cfg := s.queryCfg
	format := req.Format
	if format == "" {
		format = api.QueryJSON
	}
	switch {
	case strings.TrimSpace(req.SQL) == "":
		api.Fail(w, http.StatusBadRequest, api.CodeMissingField, "sql is required")
		return
	case format != api.QueryJSON && format != api.QueryCSV && format != api.QueryParquet:
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("format %q: write json, csv or parquet", req.Format))
		return
	case req.Limit < 0 || req.Limit > cfg.MaxRows:
		api.Fail(w, http.StatusBadRequest, api.CodeBadRequest, fmt.Sprintf("limit %d: write a whole number from 1 to %d", req.Limit, cfg.MaxRows))
		return
	}
	limit := req.Limit
	if limit == 0 {
		limit = cfg.DefaultRows
	}
	if err := sqlcheck.CheckText(r.Context(), req.SQL); err != nil {
		api.Fail(w, http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	products, e := queryProducts(req.SQL)
	if e != nil {
		api.WriteError(w, e)
		return
	}
	manifests := make([]refresh.Manifest, len(products))
	for i, p := range products {
		m, _, e := s.readable(r.Context(), principal, p.ref, p.version)
		if e != nil {
			api.WriteError(w, e)
			return
		}
		manifests[i] = m
	}

	ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
	defer cancel()
	select {
	case s.queryTurns <- struct{}{}:
		defer func() { <-s.queryTurns }()
	case <-ctx.Done():
		api.Fail(w, http.StatusServiceUnavailable, "busy", fmt.Sprintf("%d queries are running on this server and none ended within %s; try again", cfg.MaxConcurrent, cfg.Timeout))
		return
	}
	if err := os.MkdirAll(cfg.Scratch, 0o700); err != nil {
		api.Fail(w, http.StatusInternalServerError, "scratch", "cannot make the query folder: "+err.Error())
		return
	}
	dir, err := os.MkdirTemp(cfg.Scratch, "q-")
	if err != nil {
		api.Fail(w, http.StatusInternalServerError, "scratch", "cannot make the query folder: "+err.Error())
		return
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			s.log.Error("cannot remove a query folder", "dir", dir, "error", err)
		}
	}()
	if e := s.runQuery(ctx, w, dir, products, manifests, req.SQL, format, limit); e != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e = api.Errorf(http.StatusGatewayTimeout, "query_timeout", "the query ran out of its %s: make it cheaper, or narrow it", cfg.Timeout)
		}
		if e.Status >= http.StatusInternalServerError {
			s.log.Error("query failed", "principal", principal, "error", e.Message)
			if e.Status != http.StatusGatewayTimeout {
				e = api.Errorf(e.Status, e.Code, "the query could not be answered (%s); the server's log has the details", e.Code)
			}
		}
		// DuckDB's messages name the folders it was refused or used: the
		// caller learns no host path.
		e.Message = hidePaths(e.Message, dir, cfg.Scratch)
		api.WriteError(w, e)
	}
}

// runQuery downloads the products into dir, runs the query and answers it; an
// error is returned before anything is written.
func (s *Server) runQuery(ctx context.Context, w http.ResponseWriter, dir string, products []productRef, manifests []refresh.Manifest, sql, format string, limit int) *api.Error {
	cfg := s.queryCfg
	files := make([][]string, len(products))
	for i, m := range manifests {
		objs, e := s.dataObjects(ctx, m)
		if e != nil {
			return e
		}
		for j, o := range objs {
			f := filepath.Join(dir, "p"+strconv.Itoa(i)+"-"+strconv.Itoa(j)+".parquet")
			if err := s.fetchVerified(ctx, o, f); err != nil {
				return api.Errorf(http.StatusBadGateway, "store", "cannot read the data of %s %s: %v", m.Product, m.Version, err)
			}
			files[i] = append(files[i], engine.Quote(f))
		}
	}
	// The request's folder is the database's scratch, and the only folder it
	// may read or write.
	db, err := engine.Open(ctx, dir, cfg.Threads, cfg.MemoryLimit, cfg.MaxTemp)
	if err != nil {
		return api.Errorf(http.StatusInternalServerError, "engine", "%v", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			s.log.Warn("close the query database", "error", err)
		}
	}()
	for i, p := range products {
		if _, err := db.ExecContext(ctx, "CREATE VIEW "+engine.Ident(p.name)+" AS SELECT * FROM read_parquet(["+strings.Join(files[i], ", ")+"])"); err != nil {
			return api.Errorf(http.StatusBadGateway, "store", "cannot read the data of %s %s: %v", manifests[i].Product, manifests[i].Version, err)
		}
	}
	// The limit wraps the query; the wrapped text is checked again, so that
	// the caller's text cannot close the parenthesis and go on.
	body := strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
	wrapped := "SELECT * FROM (\n" + body + "\n) LIMIT " + strconv.Itoa(limit+1)
	if err := sqlcheck.Check(ctx, db, wrapped); err != nil {
		return api.Errorf(http.StatusBadRequest, "bad_query", "%v", err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TEMP TABLE meshflow_result AS "+wrapped); err != nil {
		return queryError(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM meshflow_result").Scan(&n); err != nil {
		return queryError(err)
	}
	truncated := n > limit
	result := "SELECT * FROM meshflow_result LIMIT " + strconv.Itoa(limit)
	if format == api.QueryJSON {
		return s.answerJSON(ctx, w, db, result, truncated)
	}
	out := filepath.Join(dir, "result."+format)
	opts := "(FORMAT parquet)"
	if format == api.QueryCSV {
		opts = "(FORMAT csv, HEADER true)"
	}
	if _, err := db.ExecContext(ctx, "COPY ("+result+") TO "+engine.Quote(out)+" "+opts); err != nil {
		return queryError(err)
	}
	f, err := os.Open(out)
	if err != nil {
		return api.Errorf(http.StatusInternalServerError, "engine", "read the result: %v", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return api.Errorf(http.StatusInternalServerError, "engine", "read the result: %v", err)
	}
	if info.Size() > cfg.MaxBytes {
		return api.Errorf(http.StatusUnprocessableEntity, "query_limit", "the answer is %d bytes, more than the %d this server gives one query: select fewer columns or rows", info.Size(), cfg.MaxBytes)
	}
	if format == api.QueryCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/vnd.apache.parquet")
	}
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size(), 10))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Meshflow-Truncated", strconv.FormatBool(truncated))
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("query answer broken off", "error", err)
	}
	return nil
}

// fetchVerified copies a data object to file, failing unless it has the size
// and SHA-256 its manifest records.
func (s *Server) fetchVerified(ctx context.Context, obj refresh.ObjectRef, file string) (err error) {
	rc, _, err := s.store.Get(ctx, obj.Key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), rc)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != obj.Size || got != obj.SHA256 {
		return fmt.Errorf("%s has %d bytes with sha256 %s, its manifest says %d bytes with sha256 %s", obj.Key, n, got, obj.Size, obj.SHA256)
	}
	return nil
}

// queryError maps DuckDB's error about a query to the answer.
func queryError(err error) *api.Error {
	msg := (&engine.SQLError{Err: err}).Error()
	switch {
	case engine.IsTempLimit(err) || strings.Contains(msg, "Out of Memory"):
		return api.Errorf(http.StatusUnprocessableEntity, "query_limit", "the query needs more memory than this server gives one query: %s", msg)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return api.Errorf(http.StatusGatewayTimeout, "query_timeout", "the query was stopped: %s", msg)
	}
	return api.Errorf(http.StatusBadRequest, "bad_query", "%s", msg)
}

// answerJSON writes the rows of result as api.QueryResult. The rows are read
// before anything is written, so that an error is still an error answer; they
// are bounded by the row limit.
func (s *Server) answerJSON(ctx context.Context, w http.ResponseWriter, db *engine.DB, result string, truncated bool) *api.Error {
	rows, err := db.QueryContext(ctx, result)
	if err != nil {
		return queryError(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return queryError(err)
	}
	out := api.QueryResult{Columns: cols, Rows: [][]any{}, Truncated: truncated}
	var size int64
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return queryError(err)
		}
		for i, v := range vals {
			vals[i] = jsonValue(v)
			switch x := vals[i].(type) {
			case string:
				size += int64(len(x))
			case []byte:
				size += int64(len(x))
			default:
				size += 8
			}
		}
		if size > s.queryCfg.MaxBytes {
			return api.Errorf(http.StatusUnprocessableEntity, "query_limit", "the answer is more than the %d bytes this server gives one query: select fewer columns or rows", s.queryCfg.MaxBytes)
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return queryError(err)
	}
	w.Header().Set("X-Meshflow-Truncated", strconv.FormatBool(truncated))
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// jsonValue turns a value DuckDB scans into one JSON can carry exactly:
// decimals and huge integers as numbers in their own digits, UUIDs as text,
// NaN and infinities as text.
func jsonValue(v any) any {
	switch x := v.(type) {
	case duckdb.Decimal:
		return json.Number(x.String())
	case *big.Int:
		return json.Number(x.String())
	case duckdb.UUID:
		return x.String()
	case *duckdb.UUID:
		return x.String()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
	case []any:
		for i := range x {
			x[i] = jsonValue(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonValue(x[k])
		}
	case duckdb.Map:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[fmt.Sprint(k)] = jsonValue(val)
		}
		return m
	}
	return v
}

// hidePaths replaces the query's folder, the scratch root and the home folder
// in a message with placeholders.
func hidePaths(msg string, dirs ...string) string {
	if home, err := os.UserHomeDir(); err == nil && home != "" && home != "/" {
		dirs = append(dirs, home)
	}
	for _, d := range dirs {
		if d != "" {
			msg = strings.ReplaceAll(msg, d, "<scratch>")
		}
	}
	return msg
}
