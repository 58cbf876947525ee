package rules

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
)

// sqlExpr is a translated subexpression. SQL NULL in it means "unknown" (the CEL
// evaluation stops with an error), except where colRef or null is set: then it is
// CEL's null value.
type sqlExpr struct {
	s     string
	t     Type
	null  bool // the null literal
	lit   bool // a non-null literal: never NULL, never NaN
	col   bool // a column reference: NULL here is CEL null
	tz    bool // a timestamp column of type TIMESTAMP WITH TIME ZONE
	tsLit bool // a timestamp literal, written by the comparison that uses it
	ts    time.Time
}

// mayNaN reports whether a double value may be NaN.
func (e sqlExpr) mayNaN() bool { return e.t == Double && !e.lit }

// translator turns checked CEL row rules into DuckDB SQL.
type translator struct {
	cols     map[string]Column
	sqlTypes map[string]string // DuckDB type of each column of the table
	ieeeDiv  bool              // double division follows IEEE 754 (x/0 = ±Inf, NaN)
}

// errUntranslatable says why a rule is left to cel-go.
type errUntranslatable struct{ why string }

func (e errUntranslatable) Error() string { return e.why }

func untranslatable(format string, args ...any) error {
	return errUntranslatable{fmt.Sprintf(format, args...)}
}

// rule translates a checked row rule to a SQL boolean expression with the same
// three-valued result: TRUE, FALSE, or NULL when cel-go would stop with an error
// or return null.
func (tr *translator) rule(e ast.Expr) (string, error) {
	x, err := tr.expr(e)
	if err != nil {
		return "", err
	}
	if x.t != Bool && !x.null {
		return "", untranslatable("the rule does not return a bool")
	}
	return x.s, nil
}

func (tr *translator) expr(e ast.Expr) (sqlExpr, error) {
	switch e.Kind() {
	case ast.LiteralKind:
		return literal(e.AsLiteral())
	case ast.IdentKind:
		return tr.column(e.AsIdent())
	case ast.CallKind:
		return tr.call(e.AsCall())
	case ast.SelectKind:
		sel := e.AsSelect()
		if op := sel.Operand(); !sel.IsTestOnly() && op.Kind() == ast.IdentKind && op.AsIdent() == varRow {
			if _, isCol := tr.cols[varRow]; !isCol {
				return tr.column(sel.FieldName())
			}
		}
		return sqlExpr{}, untranslatable("field selection is not translated")
	case ast.ComprehensionKind:
		return sqlExpr{}, untranslatable("comprehensions (all, exists, map, filter) are not translated")
	default:
		return sqlExpr{}, untranslatable("%s expressions are not translated", kindName(e.Kind()))
	}
}

func kindName(k ast.ExprKind) string {
	switch k {
	case ast.ListKind:
		return "list"
	case ast.MapKind:
		return "map"
	case ast.StructKind:
		return "message"
	}
	return "these"
}

func literal(v any) (sqlExpr, error) {
	switch v := v.(type) {
	case types.Null:
		return sqlExpr{s: "NULL", null: true}, nil
	case types.Bool:
		return sqlExpr{s: strings.ToUpper(strconv.FormatBool(bool(v))), t: Bool, lit: true}, nil
	case types.Int:
		return sqlExpr{s: "CAST(" + strconv.FormatInt(int64(v), 10) + " AS BIGINT)", t: Int, lit: true}, nil
	case types.Double:
		f := float64(v)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return sqlExpr{}, untranslatable("non-finite double literal")
		}
		return sqlExpr{s: "CAST('" + strconv.FormatFloat(f, 'g', -1, 64) + "' AS DOUBLE)", t: Double, lit: true}, nil
	case types.String:
		s, err := sqlString(string(v))
		return sqlExpr{s: s, t: String, lit: true}, err
	}
	return sqlExpr{}, untranslatable("%T literals are not translated", v)
}

// sqlString quotes a string for SQL.
func sqlString(s string) (string, error) {
	if strings.ContainsRune(s, 0) {
		return "", untranslatable("strings with NUL characters are not translated")
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// canonical is the DuckDB type each column type is computed in, so that SQL
// arithmetic is the same 64-bit arithmetic as cel-go's.
var canonical = map[Type]string{Int: "BIGINT", Double: "DOUBLE", String: "VARCHAR", Bool: "BOOLEAN"}

func (tr *translator) column(name string) (sqlExpr, error) {
	c, ok := tr.cols[name]
	if !ok {
		return sqlExpr{}, untranslatable("%s is not a column", name)
	}
	st := tr.sqlTypes[name]
	x := sqlExpr{s: quoteIdent(name), t: c.Type, col: true}
	switch c.Type {
	case Int, Double, String, Bool:
		if st != canonical[c.Type] {
			// A failing cast raises an error and the rule falls back to cel-go.
			x.s = "CAST(" + x.s + " AS " + canonical[c.Type] + ")"
		}
	case Timestamp:
		switch st {
		case "TIMESTAMP":
		case "DATE":
			x.s = "CAST(" + x.s + " AS TIMESTAMP)"
		case "TIMESTAMP WITH TIME ZONE":
			x.tz = true
		default:
			return sqlExpr{}, untranslatable("column %s has type %s", name, st)
		}
	default:
		return sqlExpr{}, untranslatable("column %s has type %s", name, c.Type)
	}
	return x, nil
}

var binaryOps = map[string]string{
	operators.Equals: "=", operators.NotEquals: "<>", operators.Less: "<", operators.LessEquals: "<=",
	operators.Greater: ">", operators.GreaterEquals: ">=", operators.Add: "+", operators.Subtract: "-",
	operators.Multiply: "*", operators.Divide: "/", operators.LogicalAnd: "AND", operators.LogicalOr: "OR",
}

func (tr *translator) call(c ast.CallExpr) (sqlExpr, error) {
	fn := c.FunctionName()
	args := c.Args()
	if c.IsMemberFunction() {
		args = append([]ast.Expr{c.Target()}, args...)
	}
	// The row map with a constant key is the column it names.
	if fn == operators.Index && args[0].Kind() == ast.IdentKind && args[0].AsIdent() == varRow &&
		args[1].Kind() == ast.LiteralKind {
		if k, ok := args[1].AsLiteral().(types.String); ok {
			if _, isCol := tr.cols[varRow]; !isCol {
				return tr.column(string(k))
			}
		}
	}
	if fn == operators.In && args[1].Kind() == ast.ListKind {
		return tr.in(args[0], args[1].AsList().Elements())
	}
	if fn == overloads.TypeConvertTimestamp && len(args) == 1 && args[0].Kind() == ast.LiteralKind {
		return timestampLit(args[0].AsLiteral())
	}
	xs := make([]sqlExpr, len(args))
	for i, a := range args {
		x, err := tr.expr(a)
		if err != nil {
			return sqlExpr{}, err
		}
		xs[i] = x
	}
	switch fn {
	case operators.Equals, operators.NotEquals:
		eq, err := equals(xs[0], xs[1])
		if fn == operators.NotEquals {
			eq = "(NOT " + eq + ")"
		}
		return sqlExpr{s: eq, t: Bool}, err
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
		return compare(binaryOps[fn], xs[0], xs[1])
	case operators.LogicalAnd, operators.LogicalOr:
		// SQL's three-valued AND and OR absorb NULL exactly as CEL's commutative
		// && and || absorb errors.
		if !isBool(xs[0]) || !isBool(xs[1]) {
			return sqlExpr{}, untranslatable("%s on non-bool operands", fn)
		}
		return sqlExpr{s: "(" + xs[0].s + " " + binaryOps[fn] + " " + xs[1].s + ")", t: Bool}, nil
	case operators.LogicalNot:
		if !isBool(xs[0]) {
			return sqlExpr{}, untranslatable("! on a non-bool operand")
		}
		return sqlExpr{s: "(NOT " + xs[0].s + ")", t: Bool}, nil
	case operators.Conditional:
		return conditional(xs[0], xs[1], xs[2])
	case operators.Add, operators.Subtract, operators.Multiply, operators.Divide:
		return tr.arith(fn, xs[0], xs[1])
	case operators.Negate:
		switch {
		case xs[0].t == Int && !xs[0].null:
			return sqlExpr{s: int64Range("(- CAST(" + xs[0].s + " AS HUGEINT))"), t: Int}, nil
		case xs[0].t == Double && !xs[0].null:
			return sqlExpr{s: "(- " + xs[0].s + ")", t: Double}, nil
		}
		return sqlExpr{}, untranslatable("negation of %s", xs[0].t)
	case overloads.Size:
		if xs[0].t != String || xs[0].null {
			return sqlExpr{}, untranslatable("size of %s", xs[0].t)
		}
		// DuckDB's length counts code points, as CEL's size does.
		return sqlExpr{s: "length(" + xs[0].s + ")", t: Int}, nil
	case overloads.StartsWith, overloads.EndsWith, overloads.Contains:
		if !isString(xs[0]) || !isString(xs[1]) {
			return sqlExpr{}, untranslatable("%s on non-strings", fn)
		}
		f := map[string]string{overloads.StartsWith: "starts_with", overloads.EndsWith: "ends_with", overloads.Contains: "contains"}[fn]
		return sqlExpr{s: f + "(" + xs[0].s + ", " + xs[1].s + ")", t: Bool}, nil
	case overloads.Matches:
		return matches(xs[0], args[1])
	case overloads.TypeConvertInt, overloads.TypeConvertDouble, overloads.TypeConvertString:
		return convert(fn, xs[0])
	}
	return sqlExpr{}, untranslatable("function %s is not translated", fn)
}

func isBool(x sqlExpr) bool   { return x.t == Bool && !x.null }
func isString(x sqlExpr) bool { return x.t == String && !x.null }

// sameType reports whether a binary operator on a and b is translated: both of
// one type (CEL's cross-type numeric comparisons are exact, DuckDB's are not).
func sameType(a, b sqlExpr) bool {
	if a.null || b.null {
		return false
	}
	if a.t == Timestamp && b.t == Timestamp {
		return a.tsLit || b.tsLit || a.tz == b.tz
	}
	return a.t == b.t
}

// timestampOperands writes timestamp literals in the type of the column they
// are compared with.
func timestampOperands(a, b *sqlExpr) {
	for _, p := range []struct{ lit, other *sqlExpr }{{a, b}, {b, a}} {
		if !p.lit.tsLit {
			continue
		}
		t := p.lit.ts.UTC().Format("2006-01-02 15:04:05.000000")
		if p.other.tz {
			p.lit.s = "TIMESTAMPTZ '" + t + "+00'"
		} else {
			p.lit.s = "TIMESTAMP '" + t + "'"
		}
	}
}

func equals(a, b sqlExpr) (string, error) {
	switch {
	case a.null && b.null:
		return "TRUE", nil
	case b.null:
		a, b = b, a
		fallthrough
	case a.null:
		if b.col {
			return "(" + b.s + " IS NULL)", nil
		}
		if b.lit {
			return "FALSE", nil
		}
		return "CASE WHEN " + b.s + " IS NULL THEN NULL ELSE FALSE END", nil
	}
	if !sameType(a, b) || a.t == Bytes || a.t == Dyn {
		return "", untranslatable("== between %s and %s", a.t, b.t)
	}
	timestampOperands(&a, &b)
	if b.col && !a.col {
		a, b = b, a
	}
	nan := a.mayNaN() && b.mayNaN() // a literal is never NaN
	switch {
	case a.col && b.col:
		// null == null is true in CEL; NaN == NaN is false.
		if nan {
			return "(" + a.s + " IS NOT DISTINCT FROM " + b.s + " AND NOT COALESCE(isnan(" + a.s + "), FALSE))", nil
		}
		return "(" + a.s + " IS NOT DISTINCT FROM " + b.s + ")", nil
	case a.col && b.lit:
		return "COALESCE(" + a.s + " = " + b.s + ", FALSE)", nil
	case a.col:
		// b is computed: NULL there is an error, which wins.
		eq := a.s + " = " + b.s
		if nan {
			eq = "(" + eq + " AND NOT isnan(" + a.s + "))"
		}
		return "CASE WHEN " + b.s + " IS NULL THEN NULL WHEN " + a.s + " IS NULL THEN FALSE ELSE " + eq + " END", nil
	case nan:
		return "CASE WHEN " + a.s + " IS NULL OR " + b.s + " IS NULL THEN NULL WHEN isnan(" + a.s + ") THEN FALSE ELSE " + a.s + " = " + b.s + " END", nil
	}
	return "(" + a.s + " = " + b.s + ")", nil
}

// compare translates < <= > >=. DuckDB orders NaN above every number. cel-go
// first needs a left operand that is a number (null there is an error), then
// returns false if either operand is NaN (so NaN < null is false), and only then
// compares (1.0 < null is an error).
func compare(op string, a, b sqlExpr) (sqlExpr, error) {
	if !sameType(a, b) || a.t == Bytes || a.t == Dyn {
		return sqlExpr{}, untranslatable("%s between %s and %s", op, a.t, b.t)
	}
	timestampOperands(&a, &b)
	c := "(" + a.s + " " + op + " " + b.s + ")"
	if !a.mayNaN() && !b.mayNaN() {
		return sqlExpr{s: c, t: Bool}, nil
	}
	var unknown, nan []string
	if !a.lit {
		unknown = append(unknown, a.s+" IS NULL")
	}
	if !b.lit && !b.col {
		unknown = append(unknown, b.s+" IS NULL")
	}
	if a.mayNaN() {
		nan = append(nan, "isnan("+a.s+")")
	}
	if b.mayNaN() {
		nan = append(nan, "COALESCE(isnan("+b.s+"), FALSE)")
	}
	w := "CASE "
	if len(unknown) > 0 {
		w += "WHEN " + strings.Join(unknown, " OR ") + " THEN NULL "
	}
	w += "WHEN " + strings.Join(nan, " OR ") + " THEN FALSE ELSE " + c + " END"
	return sqlExpr{s: w, t: Bool}, nil
}

func conditional(c, a, b sqlExpr) (sqlExpr, error) {
	// A column branch could be CEL null, which the result could not tell from
	// unknown; timestamp literals take the type of what they are compared with.
	if !isBool(c) || a.col || b.col || !sameType(a, b) || a.t == Timestamp {
		return sqlExpr{}, untranslatable("conditional with branches of type %s and %s", a.t, b.t)
	}
	return sqlExpr{s: "CASE WHEN " + c.s + " THEN " + a.s + " WHEN NOT " + c.s + " THEN " + b.s + " END", t: a.t}, nil
}

func (tr *translator) arith(fn string, a, b sqlExpr) (sqlExpr, error) {
	if !sameType(a, b) {
		return sqlExpr{}, untranslatable("%s between %s and %s", fn, a.t, b.t)
	}
	switch {
	case a.t == String && fn == operators.Add:
		return sqlExpr{s: "(" + a.s + " || " + b.s + ")", t: String}, nil
	case a.t == Int && fn != operators.Divide:
		return sqlExpr{s: int64Range("(CAST(" + a.s + " AS HUGEINT) " + binaryOps[fn] + " " + b.s + ")"), t: Int}, nil
	case a.t == Double && (fn != operators.Divide || tr.ieeeDiv):
	default:
		return sqlExpr{}, untranslatable("%s on %s", fn, a.t)
	}
	return sqlExpr{s: "(" + a.s + " " + binaryOps[fn] + " " + b.s + ")", t: a.t}, nil
}

// int64Range makes an integer result computed in HUGEINT NULL (unknown) outside
// the int64 range, where CEL reports an overflow error. DuckDB would raise
// errors of its own on BIGINT overflow, but its optimizer may also move
// constants across a comparison (x + 1 > 2 becomes x > 1) and skip the overflow;
// it does not see through this CASE.
func int64Range(h string) string {
	return "CASE WHEN " + h + " BETWEEN -9223372036854775808 AND 9223372036854775807 THEN " + h + " END"
}

func (tr *translator) in(elem ast.Expr, list []ast.Expr) (sqlExpr, error) {
	x, err := tr.expr(elem)
	if err != nil {
		return sqlExpr{}, err
	}
	if len(list) == 0 || x.null || x.t == Timestamp || x.t == Bytes || x.t == Dyn {
		return sqlExpr{}, untranslatable("in")
	}
	var vals []string
	hasNull := false
	for _, e := range list {
		if e.Kind() != ast.LiteralKind {
			return sqlExpr{}, untranslatable("in with a list of non-literals")
		}
		l, err := literal(e.AsLiteral())
		if err != nil {
			return sqlExpr{}, err
		}
		if l.null {
			hasNull = true
			continue
		}
		if l.t != x.t {
			return sqlExpr{}, untranslatable("in with a %s in a list of %s", x.t, l.t)
		}
		vals = append(vals, l.s)
	}
	in := "FALSE"
	if len(vals) > 0 {
		in = x.s + " IN (" + strings.Join(vals, ", ") + ")"
	}
	switch {
	case x.col && hasNull:
		return sqlExpr{s: "(" + x.s + " IS NULL OR COALESCE(" + in + ", FALSE))", t: Bool}, nil
	case x.col:
		return sqlExpr{s: "COALESCE(" + in + ", FALSE)", t: Bool}, nil
	case len(vals) == 0:
		return sqlExpr{s: "CASE WHEN " + x.s + " IS NULL THEN NULL ELSE FALSE END", t: Bool}, nil
	}
	return sqlExpr{s: "(" + in + ")", t: Bool}, nil
}

func matches(s sqlExpr, pattern ast.Expr) (sqlExpr, error) {
	if !isString(s) || pattern.Kind() != ast.LiteralKind {
		return sqlExpr{}, untranslatable("matches with a computed pattern")
	}
	p, ok := pattern.AsLiteral().(types.String)
	if !ok {
		return sqlExpr{}, untranslatable("matches")
	}
	if _, err := regexp.Compile(string(p)); err != nil {
		return sqlExpr{}, untranslatable("invalid regular expression: %v", err)
	}
	q, err := sqlString(string(p))
	if err != nil {
		return sqlExpr{}, err
	}
	// Both CEL and DuckDB use RE2 syntax with partial matching.
	return sqlExpr{s: "regexp_matches(" + s.s + ", " + q + ")", t: Bool}, nil
}

func convert(fn string, x sqlExpr) (sqlExpr, error) {
	if x.null {
		return sqlExpr{}, untranslatable("%s(null)", fn)
	}
	switch {
	case fn == overloads.TypeConvertInt && x.t == Int,
		fn == overloads.TypeConvertDouble && x.t == Double,
		fn == overloads.TypeConvertString && x.t == String:
		// Identity, except that a CEL null argument is an error: NULL stays NULL.
		return sqlExpr{s: "(" + x.s + ")", t: x.t}, nil
	case fn == overloads.TypeConvertInt && x.t == Double:
		// CEL truncates toward zero and errors on NaN, infinities and values
		// outside the open interval (-2^63, 2^63).
		return sqlExpr{s: "CASE WHEN " + x.s + " > -9223372036854775808.0 AND " + x.s + " < 9223372036854775808.0 THEN CAST(trunc(" + x.s + ") AS BIGINT) END", t: Int}, nil
	case fn == overloads.TypeConvertDouble && x.t == Int:
		return sqlExpr{s: "CAST(" + x.s + " AS DOUBLE)", t: Double}, nil
	case fn == overloads.TypeConvertString && (x.t == Int || x.t == Bool):
		return sqlExpr{s: "CAST(" + x.s + " AS VARCHAR)", t: String}, nil
	}
	return sqlExpr{}, untranslatable("%s(%s)", fn, x.t)
}

func timestampLit(v any) (sqlExpr, error) {
	s, ok := v.(types.String)
	if !ok {
		return sqlExpr{}, untranslatable("timestamp of a non-string")
	}
	t, err := time.Parse(time.RFC3339, string(s))
	if err != nil {
		return sqlExpr{}, untranslatable("invalid timestamp: %v", err)
	}
	if t.Nanosecond()%1000 != 0 {
		return sqlExpr{}, untranslatable("timestamp finer than microseconds")
	}
	if t.Year() < 1 || t.Year() > 9999 {
		return sqlExpr{}, untranslatable("timestamp out of range")
	}
	return sqlExpr{t: Timestamp, lit: true, tsLit: true, ts: t}, nil
}

// isUntranslatable reports whether err says a rule is left to cel-go.
func isUntranslatable(err error) bool {
	var u errUntranslatable
	return errors.As(err, &u)
}
