package spec

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/meshflow/meshflow/internal/refresh"
)

// IsPostgres reports whether an input URI names a PostgreSQL database
// (postgresql:// or postgres://).
func IsPostgres(uri string) bool {
	return strings.HasPrefix(uri, "postgresql://") || strings.HasPrefix(uri, "postgres://")
}

// pgTable is a PostgreSQL table name as an input may write it: an unquoted
// identifier, optionally qualified by its schema.
var pgTable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$`)

// ValidPGTable reports whether name is "table" or "schema.table" in unquoted
// identifiers.
func ValidPGTable(name string) bool { return pgTable.MatchString(name) }

// PGParams are the only connection parameters a PostgreSQL input's URI may
// carry. Everything else (password, host and hostaddr overrides, passfile,
// service files, client keys and certificates, …) is the worker's to set, in
// its environment: a spec must neither hold secrets nor steer where the
// worker's credentials go.
var PGParams = []string{"sslmode", "connect_timeout", "application_name"}

// CheckPGURI reports what is wrong with a PostgreSQL input URI as a spec may
// write it: it parses, holds no password, names one host (no list, no socket
// folder) and carries only PGParams. Validate and ingest both use it.
func CheckPGURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return errors.New("the PostgreSQL uri does not parse")
	}
	if _, ok := u.User.Password(); ok {
		return errors.New("the PostgreSQL uri carries a password")
	}
	for k := range u.Query() {
		if !slices.Contains(PGParams, k) {
			return fmt.Errorf("the PostgreSQL uri carries a %q parameter; a spec may set only %s", k, strings.Join(PGParams, ", "))
		}
	}
	if h := u.Hostname(); h == "" || strings.Contains(u.Host, ",") || strings.HasPrefix(h, "/") || strings.HasPrefix(h, "%2F") {
		return errors.New("the PostgreSQL uri must name one server host (no host list, no socket folder)")
	}
	return nil
}

func checkPostgres(doc *yamlfile.Doc, i int, in Input, ds *diag.List) {
	credHint := "remove it and give the worker the password in PGPASSWORD or a PGPASSFILE (and the user in PGUSER); specs, workflow payloads and logs never hold credentials"
	u, err := url.Parse(in.URI)
	switch {
	case err != nil:
		// url's message repeats the URI, which may hold a password.
		ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-uri", `write "postgresql://<host>:<port>/<database>"`,
			"input %q: the PostgreSQL uri does not parse", in.Name)
	case u.User != nil:
		if _, hasPassword := u.User.Password(); hasPassword {
			ds.Errorf(doc.PosAt("inputs", i, "uri"), "secret-in-spec", credHint,
				"input %q: the PostgreSQL uri carries a password", in.Name)
		}
	}
	if err == nil {
		if _, hasPassword := u.User.Password(); !hasPassword {
			if cerr := CheckPGURI(in.URI); cerr != nil {
				ds.Errorf(doc.PosAt("inputs", i, "uri"), "bad-uri", "write postgresql://<host>:<port>/<database>, with at most "+strings.Join(PGParams, ", ")+"; the worker sets credentials, certificates and hosts in its environment",
					"input %q: %v", in.Name, cerr)
			}
		}
	}
	switch {
	case in.Table == "" && in.Query == "":
		ds.Errorf(doc.PosAt("inputs", i), "missing-key", "add table: <schema>.<table> or query: \"SELECT …\"",
			"PostgreSQL input %q needs a table or a query", in.Name)
	case in.Table != "" && in.Query != "":
		ds.Errorf(doc.PosAt("inputs", i, "query"), "conflict", "keep one of them",
			"PostgreSQL input %q has both a table and a query", in.Name)
	case in.Table != "":
		if !ValidPGTable(in.Table) {
			ds.Errorf(doc.PosAt("inputs", i, "table"), "bad-table", "write <table> or <schema>.<table> in letters, digits, _ and $, starting with a letter or _ (names fold to lower case, as PostgreSQL reads unquoted names)",
				"input %q: %q is not a PostgreSQL table name", in.Name, in.Table)
		}
	default:
		if err := CheckPGQuery(in.Query); err != nil {
			ds.Errorf(doc.PosAt("inputs", i, "query"), "bad-query", "write one SELECT (or WITH … SELECT) statement; it runs in a read-only transaction",
				"input %q: %v", in.Name, err)
		}
	}
	if in.Format != "" && in.Format != refresh.FormatParquet {
		ds.Errorf(doc.PosAt("inputs", i, "format"), "bad-value", "leave format out: a PostgreSQL input is snapshotted as parquet",
			"PostgreSQL input %q cannot have format %q", in.Name, in.Format)
	}
	for _, key := range []string{"delimiter", "header"} {
		if doc.At("inputs", i, key) != nil {
			ds.Errorf(doc.PosAt("inputs", i, key), "bad-key", "remove it: it is a CSV option",
				"PostgreSQL input %q: %s does not apply", in.Name, key)
		}
	}
}

// CheckPGQuery checks that q is one SELECT or WITH statement (a trailing
// semicolon is allowed): it must start with SELECT or WITH, and hold no
// semicolon outside string literals, quoted identifiers and comments. The
// server checks the rest when it runs the query in a read-only transaction.
func CheckPGQuery(q string) error {
	_, err := PGQuery(q)
	return err
}

// PGQuery checks q as CheckPGQuery does and returns the statement without its
// comments and trailing semicolon, ready to be wrapped in COPY (…) TO STDOUT.
func PGQuery(q string) (string, error) {
	body, err := pgStatementEnd(q)
	if err != nil {
		return "", err
	}
	first := strings.ToUpper(firstWord(body))
	if first != "SELECT" && first != "WITH" {
		if first == "" {
			return "", errors.New("the query is empty")
		}
		return "", errors.New("the query is not a SELECT: it starts with " + first)
	}
	return strings.TrimSpace(body), nil
}

// pgStatementEnd returns q without comments and a trailing semicolon, or an
// error when q holds more than one statement or an unterminated literal.
func pgStatementEnd(q string) (string, error) {
	var b strings.Builder
	ended := false
	for i := 0; i < len(q); {
		c := q[i]
		rest := q[i:]
		switch {
		case strings.HasPrefix(rest, "--"):
			j := strings.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest)
			}
			b.WriteByte(' ')
			i += j
			continue
		case strings.HasPrefix(rest, "/*"):
			// PostgreSQL's block comments nest.
			depth, j := 0, 0
			for j < len(rest) {
				if strings.HasPrefix(rest[j:], "/*") {
					depth++
					j += 2
				} else if strings.HasPrefix(rest[j:], "*/") {
					depth--
					j += 2
					if depth == 0 {
						break
					}
				} else {
					j++
				}
			}
			if depth != 0 {
				return "", errors.New("a /* comment is not closed")
			}
			b.WriteByte(' ')
			i += j
			continue
		}
		if ended && !isSpace(c) {
			return "", errors.New("the query holds more than one statement (a ; outside quotes)")
		}
		switch {
		case c == ';':
			ended = true
			i++
			continue
		case c == '\'' || c == '"':
			j := closeQuote(rest, c)
			if j < 0 {
				return "", errors.New("a quote is not closed")
			}
			b.WriteString(rest[:j])
			i += j
			continue
		case c == '$':
			if tag := dollarTag(rest); tag != "" {
				end := strings.Index(rest[len(tag):], tag)
				if end < 0 {
					return "", errors.New("a " + tag + " quote is not closed")
				}
				j := len(tag) + end + len(tag)
				b.WriteString(rest[:j])
				i += j
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), nil
}

// closeQuote returns the length of the quoted text at the start of s (quote
// doubled inside to escape it), or -1 when it does not close.
func closeQuote(s string, quote byte) int {
	for j := 1; j < len(s); j++ {
		if s[j] == quote {
			if j+1 < len(s) && s[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// dollarTag returns the $tag$ that opens a dollar-quoted string at the start of
// s, or "".
func dollarTag(s string) string { return dollarTagRE.FindString(s) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func firstWord(s string) string {
	s = strings.TrimLeft(s, " \t\n\r\f(")
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if end < 0 {
		return s
	}
	return s[:end]
}
