// Package pgsnap reads a PostgreSQL table or query as one consistent snapshot:
// it connects with pgx (credentials from the worker's libpq environment:
// PGUSER, PGPASSWORD, PGPASSFILE, PGSSLMODE, …), opens one REPEATABLE READ,
// READ ONLY transaction, describes the result's columns and streams the rows
// with COPY … TO STDOUT as CSV. The activities turn that CSV into a typed
// Parquet snapshot with the engine.
//
// Errors never hold the password: messages name the input's host, port,
// database and user, and the server's message.
package pgsnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// Source is what to read.
type Source struct {
	// URI is postgresql://[user@]host[:port]/database[?options], without a
	// password.
	URI string
	// Table ("table" or "schema.table", unquoted names) or Query (one SELECT).
	Table string
	Query string
	// Hosts are the servers ("host" or "host:port") the worker's operator lets
	// inputs connect to; an input naming any other is refused before a
	// connection is made, so that no spec can send the worker's credentials to a
	// server of its choosing. Empty refuses every server.
	Hosts []string
}

// allowed reports whether the configuration's server is one of hosts.
func allowed(cfg *pgx.ConnConfig, hosts []string) bool {
	if len(cfg.Fallbacks) > 0 {
		return false
	}
	hp := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if strings.EqualFold(h, cfg.Host) || strings.EqualFold(h, hp) {
			return true
		}
	}
	return false
}

// Column is one column of the snapshot.
type Column struct {
	Name string
	// PGType is the column's PostgreSQL type name, for messages.
	PGType string
	// Type is the DuckDB type the column's CSV text casts to; "DECIMAL" alone
	// is a numeric without precision (the narrowest DECIMAL that holds the data).
	Type string
	// Hex says the text is bytea in PostgreSQL's hex form (\x0102…).
	Hex bool
}

// Error is a problem with the input itself: the server refuses the
// connection or the credentials, the table does not exist, the query is
// wrong. Another attempt would fail the same way.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// Snapshot copies the rows of src to w as CSV (no header; NULL is an unquoted
// empty field, an empty string is ""), and returns the columns and the row
// count. Every row comes from one REPEATABLE READ transaction.
func Snapshot(ctx context.Context, src Source, w io.Writer) ([]Column, int64, error) {
	cfg, err := Config(src.URI)
	if err != nil {
		return nil, 0, err
	}
	where := Where(cfg)
	if !allowed(cfg, src.Hosts) {
		return nil, 0, &Error{Msg: fmt.Sprintf("%s is not among the PostgreSQL servers this worker may connect to (%s); the worker's operator lists them in MESHFLOW_POSTGRES_HOSTS",
			where, strings.Join(src.Hosts, ", "))}
	}
	query, err := selectSQL(src)
	if err != nil {
		return nil, 0, &Error{Msg: err.Error()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, 0, classify(where, "connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, classify(where, "begin", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	desc, err := conn.PgConn().Prepare(ctx, "", query, nil)
	if err != nil {
		return nil, 0, classify(where, "describe", err)
	}
	cols := make([]Column, len(desc.Fields))
	seen := map[string]bool{}
	for i, f := range desc.Fields {
		if seen[f.Name] {
			return nil, 0, &Error{Msg: fmt.Sprintf("%s: the result has two columns named %q; give them distinct names (AS …)", where, f.Name)}
		}
		seen[f.Name] = true
		cols[i] = column(conn.TypeMap(), f)
	}
	tag, err := conn.PgConn().CopyTo(ctx, w, "COPY (\n"+query+"\n) TO STDOUT WITH (FORMAT csv, HEADER false)")
	if err != nil {
		return nil, 0, classify(where, "copy", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, classify(where, "commit", err)
	}
	return cols, tag.RowsAffected(), nil
}

// Config parses a PostgreSQL URI the way libpq does: what it leaves out
// (user, password, passfile, sslmode, …) comes from the PG* environment. It
// refuses a URI that holds a password.
func Config(uri string) (*pgx.ConnConfig, error) {
	if err := spec.CheckPGURI(uri); err != nil {
		return nil, &Error{Msg: err.Error() + "; the worker sets credentials, certificates and hosts in its environment (PGPASSWORD or PGPASSFILE, PGSSLMODE, …)"}
	}
	cfg, err := pgx.ParseConfig(uri)
	if err != nil {
		// pgconn's message may quote the connection string.
		return nil, &Error{Msg: "the PostgreSQL uri does not parse: " + redact(err.Error(), uri)}
	}
	// Text forms that DuckDB reads back without guessing.
	cfg.RuntimeParams["TimeZone"] = "UTC"
	cfg.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.RuntimeParams["IntervalStyle"] = "postgres"
	cfg.RuntimeParams["extra_float_digits"] = "1"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "meshflow"
	}
	return cfg, nil
}

// Where names the server, database and user of a configuration for messages.
func Where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("PostgreSQL %s/%s (user %s)", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), cfg.Database, cfg.User)
}

// selectSQL returns the statement whose rows make the snapshot.
func selectSQL(src Source) (string, error) {
	switch {
	case src.Table != "" && src.Query != "":
		return "", errors.New("give a table or a query, not both")
	case src.Table != "":
		if !spec.ValidPGTable(src.Table) {
			return "", fmt.Errorf("%q is not a PostgreSQL table name", src.Table)
		}
		// Unquoted names fold to lower case in PostgreSQL; quoted, they are
		// taken as they are.
		return "SELECT * FROM " + pgx.Identifier(strings.Split(strings.ToLower(src.Table), ".")).Sanitize(), nil
	case src.Query != "":
		return spec.PGQuery(src.Query)
	}
	return "", errors.New("give a table or a query")
}

// column maps a result column to the DuckDB type its text casts to.
func column(m *pgtype.Map, f pgconn.FieldDescription) Column {
	c := Column{Name: f.Name, Type: "VARCHAR", PGType: fmt.Sprintf("oid %d", f.DataTypeOID)}
	if t, ok := m.TypeForOID(f.DataTypeOID); ok {
		c.PGType = t.Name
	}
	switch f.DataTypeOID {
	case pgtype.BoolOID:
		c.Type = "BOOLEAN"
	case pgtype.Int2OID:
		c.Type = "SMALLINT"
	case pgtype.Int4OID:
		c.Type = "INTEGER"
	case pgtype.Int8OID:
		c.Type = "BIGINT"
	case pgtype.OIDOID, pgtype.XIDOID:
		c.Type = "UBIGINT"
	case pgtype.Float4OID:
		c.Type = "FLOAT"
	case pgtype.Float8OID:
		c.Type = "DOUBLE"
	case pgtype.NumericOID:
		c.Type = "DECIMAL"
		// The type modifier of numeric(p, s) is ((p << 16) | s) + 4.
		if mod := f.TypeModifier - 4; f.TypeModifier >= 4 {
			p, s := (mod>>16)&0xffff, mod&0xffff
			if p >= 1 && p <= 38 && s <= p {
				c.Type = fmt.Sprintf("DECIMAL(%d,%d)", p, s)
			}
		}
	case pgtype.DateOID:
		c.Type = "DATE"
	case pgtype.TimeOID:
		c.Type = "TIME"
	case pgtype.TimestampOID:
		c.Type = "TIMESTAMP"
	case pgtype.TimestamptzOID:
		c.Type = "TIMESTAMPTZ"
	case pgtype.IntervalOID:
		c.Type = "INTERVAL"
	case pgtype.UUIDOID:
		c.Type = "UUID"
	case pgtype.JSONOID, pgtype.JSONBOID:
		c.Type = "JSON"
	case pgtype.ByteaOID:
		c.Type, c.Hex = "BLOB", true
	}
	return c
}

// classify turns a pgx error into an *Error when it is the input's fault, and
// otherwise into an error that a retry may get past (the network, a server
// restarting, a serialization failure).
func classify(where, action string, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		msg := fmt.Sprintf("%s: %s", where, pgErr.Message)
		if pgErr.Detail != "" {
			msg += " (" + pgErr.Detail + ")"
		}
		switch class := pgErr.Code[:2]; class {
		case "28": // invalid authorization: wrong password, no such role, pg_hba
			return &Error{Msg: msg + "; check PGUSER and PGPASSWORD or PGPASSFILE on the worker"}
		case "3D", "42", "22", "25", "0A", "2B": // no database; syntax, names, privileges; data; read-only; unsupported
			return &Error{Msg: msg}
		}
		return fmt.Errorf("%s: %s: %s (SQLSTATE %s)", where, action, pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return &Error{Msg: fmt.Sprintf("%s: no such host %s", where, dnsErr.Name)}
	}
	if strings.Contains(err.Error(), "connection refused") {
		return &Error{Msg: fmt.Sprintf("%s: the server refused the connection (is it running, and is the uri's host and port right?)", where)}
	}
	if strings.Contains(err.Error(), "server refused TLS") || strings.Contains(err.Error(), "SSL is not enabled") {
		return &Error{Msg: fmt.Sprintf("%s: %v; check PGSSLMODE on the worker", where, err)}
	}
	return fmt.Errorf("%s: %s: %w", where, action, err)
}

// redact removes the URI from a message.
func redact(msg, uri string) string {
	return strings.ReplaceAll(msg, uri, "<uri>")
}
