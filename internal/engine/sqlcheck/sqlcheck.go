// Package sqlcheck decides, with DuckDB's own parser, whether a product's transform
// SQL is exactly one query: a SELECT, a WITH … SELECT, or another statement
// DuckDB parses as a query (FROM-first, VALUES, TABLE, a set operation). Anything
// else — a second statement, COPY, ATTACH, INSTALL, LOAD, SET, RESET, PRAGMA,
// EXPORT, CALL, DDL or DML — is refused before it runs. The engine checks at run
// time, and `meshflow validate` and `apply` check each product's spec.
//
// The decision is DuckDB's: json_serialize_sql parses the text and serializes it
// only when every statement is a query. A small lexer splits the text at the
// semicolons outside literals and comments only to say which statement is wrong
// and where.
package sqlcheck

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
)

// Querier runs a query on a DuckDB connection: *sql.DB, *sql.Conn and *sql.Tx
// all do.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Error says why SQL is not one query, and where.
type Error struct {
	// Reason completes "must be one SELECT or WITH statement; …", such as "found
	// COPY", or, when Syntax is set, is DuckDB's syntax error.
	Reason string
	// Syntax says that the SQL does not parse.
	Syntax bool
	// Statement is the number (from 1) of the offending statement of the
	// Statements the SQL holds; both are 0 when that is not known.
	Statement, Statements int
	// Line and Col (from 1, Col in characters) are the place in the SQL of the
	// offending statement or the syntax error.
	Line, Col int
}

// Message says what is wrong without saying where, for callers that give the
// place themselves: "must be one SELECT or WITH statement; found COPY
// (statement 2 of 2)".
func (e *Error) Message() string {
	if e.Syntax {
		return e.Reason
	}
	m := "must be one SELECT or WITH statement; " + e.Reason
	if e.Statements > 1 {
		m += fmt.Sprintf(" (statement %d of %d)", e.Statement, e.Statements)
	}
	return m
}

func (e *Error) Error() string {
	if e.Syntax || e.Statements > 1 {
		return fmt.Sprintf("%s at line %d, column %d of the SQL", e.Message(), e.Line, e.Col)
	}
	return e.Message()
}

// parsed is what json_serialize_sql returns.
type parsed struct {
	Failed     bool              `json:"error"`
	Type       string            `json:"error_type"`
	Message    string            `json:"error_message"`
	Position   string            `json:"position"`
	Statements []json.RawMessage `json:"statements"`
}

func parse(ctx context.Context, q Querier, text string) (*parsed, error) {
	var s string
	if err := q.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", text).Scan(&s); err != nil {
		return nil, fmt.Errorf("parse the SQL with DuckDB: %w", err)
	}
	var p parsed
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("parse the SQL with DuckDB: %w", err)
	}
	return &p, nil
}

// Check returns an *Error unless text is exactly one query, parsing it on q. Other
// errors mean DuckDB could not be asked.
func Check(ctx context.Context, q Querier, text string) error {
	p, err := parse(ctx, q, text)
	if err != nil {
		return err
	}
	switch {
	case !p.Failed && len(p.Statements) == 1:
		return nil
	case !p.Failed && len(p.Statements) == 0:
		return &Error{Reason: "found no statement, only blanks and comments", Line: 1, Col: 1}
	case p.Failed && p.Type == "parser":
		off, _ := strconv.Atoi(p.Position)
		line, col := lineCol(text, off)
		return &Error{Reason: p.Message, Syntax: true, Line: line, Col: col}
	}
	// Name the offending statement: split the text and ask DuckDB about each part.
	stmts, ok, err := statements(ctx, q, text)
	if err != nil {
		return err
	}
	if !ok || (!p.Failed && len(stmts) != len(p.Statements)) {
		// The split disagrees with DuckDB's parser: say less.
		if !p.Failed {
			return &Error{Reason: fmt.Sprintf("found %d statements", len(p.Statements)), Line: 1, Col: 1}
		}
		return &Error{Reason: "found a statement that is not a query (DuckDB: " + p.Message + ")", Line: 1, Col: 1}
	}
	for i, s := range stmts {
		if s.query && (p.Failed || i == 0) {
			continue
		}
		line, col := lineCol(text, s.start)
		reason := "found a second query"
		if !s.query {
			reason = "found " + kind(text[s.start:s.end])
		}
		return &Error{Reason: reason, Statement: i + 1, Statements: len(stmts), Line: line, Col: col}
	}
	return &Error{Reason: "found a statement that is not a query (DuckDB: " + p.Message + ")", Line: 1, Col: 1}
}

// statements splits text into its statements, leaving out blanks and comments,
// and asks DuckDB whether each is a query. ok is false when a part does not parse
// as one statement on its own, that is when the split disagrees with DuckDB.
func statements(ctx context.Context, q Querier, text string) (stmts []segment, ok bool, err error) {
	for _, s := range split(text) {
		p, err := parse(ctx, q, text[s.start:s.end])
		if err != nil {
			return nil, false, err
		}
		switch {
		case !p.Failed && len(p.Statements) == 0:
			continue
		case !p.Failed && len(p.Statements) == 1:
			s.query = true
		case p.Failed && p.Type != "parser":
		default:
			return nil, false, nil
		}
		s.start += leading(text[s.start:s.end])
		stmts = append(stmts, s)
	}
	return stmts, true, nil
}

// The database CheckText parses on: in memory, without file access, its
// configuration locked.
var (
	parserOnce sync.Once
	parserDB   *sql.DB
	parserErr  error
)

// CheckText is Check on a DuckDB of its own, for callers that have none (such as
// `meshflow validate`). The SQL is parsed, never run.
func CheckText(ctx context.Context, text string) error {
	parserOnce.Do(func() {
		parserDB, parserErr = sql.Open("duckdb", "")
		if parserErr != nil {
			return
		}
		for _, s := range []string{"SET enable_external_access = false", "SET lock_configuration = true"} {
			if _, err := parserDB.ExecContext(ctx, s); err != nil {
				parserErr = errors.Join(fmt.Errorf("configure duckdb (%s): %w", s, err), parserDB.Close())
				return
			}
		}
	})
	if parserErr != nil {
		return parserErr
	}
	return Check(ctx, parserDB, text)
}

// segment is a part of the SQL between semicolons outside literals and comments.
type segment struct {
	start, end int
	query      bool
}

// split cuts text after each semicolon that is outside a string, a quoted
// identifier, a dollar-quoted string and a comment.
func split(text string) []segment {
	var segs []segment
	start := 0
	for i := 0; i < len(text); {
		switch c := text[i]; {
		case c == ';':
			segs = append(segs, segment{start: start, end: i + 1})
			start = i + 1
			i++
		case c == '\'' || c == '"':
			i = skipQuoted(text, i, c, (c == '\'') && i > 0 && (text[i-1] == 'e' || text[i-1] == 'E'))
		case c == '-' && strings.HasPrefix(text[i:], "--"):
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(text)
			}
		case c == '/' && strings.HasPrefix(text[i:], "/*"):
			i = skipComment(text, i)
		case c == '$':
			i = skipDollar(text, i)
		default:
			i++
		}
	}
	if start < len(text) {
		segs = append(segs, segment{start: start, end: len(text)})
	}
	return segs
}

// skipQuoted returns the index after the literal that starts at text[i] == q;
// a doubled quote stands for itself, and so does a backslash-escaped one in an
// E'…' string.
func skipQuoted(text string, i int, q byte, backslash bool) int {
	for j := i + 1; j < len(text); j++ {
		switch {
		case backslash && text[j] == '\\':
			j++
		case text[j] == q && j+1 < len(text) && text[j+1] == q:
			j++
		case text[j] == q:
			return j + 1
		}
	}
	return len(text)
}

// skipComment returns the index after the (possibly nested) block comment that
// starts at text[i].
func skipComment(text string, i int) int {
	depth := 0
	for j := i; j < len(text); j++ {
		switch {
		case strings.HasPrefix(text[j:], "/*"):
			depth++
			j++
		case strings.HasPrefix(text[j:], "*/"):
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(text)
}

// skipDollar returns the index after the $tag$…$tag$ string that starts at
// text[i], or i+1 when the $ does not open one (a parameter such as $1).
func skipDollar(text string, i int) int {
	j := i + 1
	for j < len(text) && (text[j] == '_' || unicode.IsLetter(rune(text[j])) || (j > i+1 && unicode.IsDigit(rune(text[j])))) {
		j++
	}
	if j >= len(text) || text[j] != '$' {
		return i + 1
	}
	tag := text[i : j+1]
	if k := strings.Index(text[j+1:], tag); k >= 0 {
		return j + 1 + k + len(tag)
	}
	return len(text)
}

// leading returns the length of the blanks and comments that start s.
func leading(s string) int {
	i := 0
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
		case strings.HasPrefix(s[i:], "--"):
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				return len(s)
			}
		case strings.HasPrefix(s[i:], "/*"):
			i = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

// kind names a statement that is not a query by its first word.
func kind(stmt string) string {
	s := stmt[leading(stmt):]
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(s)
	}
	switch w := strings.ToUpper(s[:end]); w {
	case "":
		return "a statement that is not a query"
	case "WITH", "SELECT", "FROM", "VALUES", "TABLE":
		return "a " + w + " that DuckDB does not run as one query (such as WITH … INSERT, or a PIVOT without an IN list)"
	case "PIVOT":
		return "PIVOT (a PIVOT statement runs as several; write SELECT * FROM (PIVOT … ON … IN (…) USING …))"
	default:
		return w
	}
}

// lineCol returns the line and the column, in characters, of byte offset off of
// text, both from 1.
func lineCol(text string, off int) (line, col int) {
	off = max(0, min(off, len(text)))
	before := text[:off]
	line = strings.Count(before, "\n") + 1
	col = utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}
