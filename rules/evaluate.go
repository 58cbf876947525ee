package rules

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// EvalOptions are the choices of one evaluation.
type EvalOptions struct {
	// PassingPath, when set, is where the rows that fail no error-severity row
	// rule are written as a Parquet file.
	PassingPath string
	// QuarantinePath, when set, is where the other rows are written as a Parquet
	// file.
	QuarantinePath string
	// ForceCEL evaluates every row rule with cel-go, for comparisons and tests.
	ForceCEL bool
	// History is the product's history, which dataset rules read as history;
	// when nil, the rules that read it are skipped.
	History *History
}

// Evaluate runs the rules over a table of the DuckDB database db. The table name
// is quoted as one identifier. Row rules translated to SQL are counted in a single
// scan, together with the aggregates dataset rules read; the other row rules are
// evaluated by cel-go in a second scan. Evaluate returns an error only when the
// table cannot be read or ctx ends; rules that cannot be evaluated have status
// "error" in the report.
func (s *Set) Evaluate(ctx context.Context, db *sql.DB, table string, ev EvalOptions) (rep *Report, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluate rules on %s: %w", table, err)
	}
	e := &evaluation{set: s, conn: conn, table: quoteIdent(table), ev: ev}
	defer func() {
		err = errors.Join(err, e.cleanup(), conn.Close())
		if err != nil {
			rep = nil
		}
	}()
	if err := e.run(ctx, table); err != nil {
		return nil, fmt.Errorf("evaluate rules on %s: %w", table, err)
	}
	return e.rep, nil
}

type evaluation struct {
	set   *Set
	conn  *sql.Conn
	table string // quoted; a materialised copy when the table has no rowid
	ev    EvalOptions
	rep   *Report
	res   []*RuleResult // by index in set.rules
	pred  map[int]string
	temps []string
	cost  uint64
}

var tempSeq atomic.Int64

func (e *evaluation) tempName(what string) string {
	name := fmt.Sprintf("__meshflow_rules_%s_%d", what, tempSeq.Add(1))
	e.temps = append(e.temps, name)
	return name
}

func (e *evaluation) cleanup() error {
	var errs []error
	for _, t := range e.temps {
		if _, err := e.conn.ExecContext(context.WithoutCancel(context.Background()), "DROP TABLE IF EXISTS "+quoteIdent(t)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *evaluation) run(ctx context.Context, table string) error {
	s := e.set
	e.rep = &Report{Table: table, Rules: make([]RuleResult, len(s.rules)), History: e.ev.History}
	e.res = make([]*RuleResult, len(s.rules))
	for i, r := range s.rules {
		e.rep.Rules[i] = RuleResult{ID: r.ID, Column: r.Column, Kind: r.kind, Severity: r.Severity, Engine: EngineSQL}
		e.res[i] = &e.rep.Rules[i]
	}
	tr, err := e.translator(ctx)
	if err != nil {
		return err
	}
	e.pred = map[int]string{}
	for i, r := range s.rules {
		if r.kind != Row {
			e.res[i].Engine = EngineCEL
			continue
		}
		p, err := tr.rule(r.ast.NativeRep().Expr())
		switch {
		case e.ev.ForceCEL:
			e.fallback(i, "cel-go forced")
		case err != nil:
			e.fallback(i, "not translated to SQL: "+err.Error())
		default:
			e.pred[i] = p
		}
	}
	aggs, err := e.scan(ctx)
	if err != nil {
		return err
	}
	var failedIDs string
	if failedIDs, err = e.celScan(ctx); err != nil {
		return err
	}
	quarantine := e.quarantinePredicate(failedIDs)
	if failedIDs != "" {
		if err := e.conn.QueryRowContext(ctx, "SELECT count(*) FILTER (WHERE "+quarantine+") FROM "+e.table).Scan(&e.rep.Quarantined); err != nil {
			return fmt.Errorf("count quarantined rows: %w", err)
		}
	}
	e.rep.Passing = e.rep.Rows - e.rep.Quarantined
	if err := e.sqlSamples(ctx); err != nil {
		return err
	}
	fractions := map[string]float64{}
	for i, r := range s.rules {
		if r.kind == Row {
			e.rowStatus(r, e.res[i])
			if e.res[i].Status != StatusError {
				fractions[r.ID] = e.res[i].FailingFraction
			}
		}
	}
	for i, r := range s.rules {
		if r.kind == Dataset {
			if err := e.datasetRule(ctx, r, e.res[i], aggs, fractions); err != nil {
				return err
			}
		}
	}
	e.rep.CELCost = e.cost
	return e.write(ctx, quarantine)
}

func (e *evaluation) fallback(i int, why string) {
	e.res[i].Engine, e.res[i].Fallback = EngineCEL, why
	delete(e.pred, i)
}

// translator reads the column types of the table and the DuckDB settings the
// translation depends on.
func (e *evaluation) translator(ctx context.Context) (*translator, error) {
	tr := &translator{cols: map[string]Column{}, sqlTypes: map[string]string{}}
	rows, err := e.conn.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+e.table+")")
	if err != nil {
		return nil, fmt.Errorf("describe table: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("describe table: %w", err)
		}
		tr.sqlTypes[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe table: %w", err)
	}
	for _, c := range e.set.cols {
		if _, ok := tr.sqlTypes[c.Name]; !ok {
			return nil, fmt.Errorf("the table has no column %q", c.Name)
		}
		tr.cols[c.Name] = c
	}
	var ieee bool
	if err := e.conn.QueryRowContext(ctx, "SELECT current_setting('ieee_floating_point_ops')").Scan(&ieee); err == nil {
		tr.ieeeDiv = ieee
	}
	return tr, nil
}

// failPred is the SQL condition of rows failing a translated rule: false, not
// unknown.
func failPred(p string) string { return "NOT COALESCE(" + p + ", TRUE)" }

// aggTarget is one aggregate a dataset rule reads: map[column].
type aggTarget struct{ m, col string }

// scan counts, in one query, the rows, the checked and failing rows of every
// translated row rule, the quarantined rows and the aggregates the dataset rules
// read. A rule whose SQL DuckDB refuses to run (say, an overflow DuckDB raises)
// falls back to cel-go.
func (e *evaluation) scan(ctx context.Context) (map[string]map[string]ref.Val, error) {
	targets := e.aggregateTargets()
	for {
		var sel []string
		var idx []int
		var quarantine []string
		// Each predicate is computed once per row, in the inner projection,
		// and counted three times from there.
		inner := e.scanColumns(targets)
		sel = append(sel, "count(*)")
		for i := range e.set.rules {
			p, ok := e.pred[i]
			if !ok {
				continue
			}
			idx = append(idx, i)
			v := e.predAlias(i)
			inner = append(inner, p+" AS "+v)
			sel = append(sel, "count("+v+")", "count(*) FILTER (WHERE NOT "+v+")")
			if e.set.rules[i].Severity == Error {
				quarantine = append(quarantine, failPred(v))
			}
		}
		if len(quarantine) > 0 {
			sel = append(sel, "count(*) FILTER (WHERE "+strings.Join(quarantine, " OR ")+")")
		}
		for _, t := range targets {
			sel = append(sel, aggregateSQL(t))
		}
		vals := make([]any, len(sel))
		ptrs := make([]any, len(sel))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		from := e.table
		if len(inner) > 0 {
			from = "(SELECT " + strings.Join(inner, ", ") + " FROM " + e.table + ")"
		}
		err := e.conn.QueryRowContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+from).Scan(ptrs...)
		if err != nil {
			if ctx.Err() != nil || !e.dropFailingSQL(ctx, idx) {
				return nil, fmt.Errorf("scan: %w", err)
			}
			continue
		}
		e.rep.Rows = toInt64(vals[0])
		k := 1
		for _, i := range idx {
			e.res[i].Checked, e.res[i].Failing = toInt64(vals[k]), toInt64(vals[k+1])
			k += 2
		}
		if len(quarantine) > 0 {
			e.rep.Quarantined = toInt64(vals[k])
			k++
		}
		aggs := map[string]map[string]ref.Val{}
		for _, t := range targets {
			if aggs[t.m] == nil {
				aggs[t.m] = map[string]ref.Val{}
			}
			c := e.set.cols[e.set.colIdx[t.col]]
			if t.m == varMin || t.m == varMax {
				aggs[t.m][t.col] = celValue(c.Type, vals[k])
			} else {
				aggs[t.m][t.col] = types.Int(toInt64(vals[k]))
			}
			k++
		}
		return aggs, nil
	}
}

// scanColumns returns the columns the aggregates of targets read, quoted,
// each once.
func (e *evaluation) scanColumns(targets []aggTarget) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range targets {
		if !seen[t.col] {
			seen[t.col] = true
			out = append(out, quoteIdent(t.col))
		}
	}
	return out
}

// predAlias names rule i's predicate in the scan's inner projection: a name
// no column of the table has.
func (e *evaluation) predAlias(i int) string {
	name := fmt.Sprintf("meshflow rule %d", i)
	for {
		if _, taken := e.set.colIdx[name]; !taken {
			break
		}
		name += "'"
	}
	return quoteIdent(name)
}

// dropFailingSQL runs each translated rule on its own and sends those DuckDB
// refuses to cel-go. It reports whether it dropped any.
func (e *evaluation) dropFailingSQL(ctx context.Context, idx []int) bool {
	dropped := false
	for _, i := range idx {
		var n int64
		if err := e.conn.QueryRowContext(ctx, "SELECT count("+e.pred[i]+") FROM "+e.table).Scan(&n); err != nil && ctx.Err() == nil {
			e.fallback(i, "DuckDB could not run the SQL translation: "+firstLine(err.Error()))
			dropped = true
		}
	}
	return dropped
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (e *evaluation) aggregateTargets() []aggTarget {
	var out []aggTarget
	seen := map[aggTarget]bool{}
	for _, r := range e.set.rules {
		for m, keys := range r.keys {
			if m == varFailingFraction {
				continue
			}
			for _, c := range e.set.cols {
				t := aggTarget{m, c.Name}
				if (keys == nil || keys[c.Name]) && !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
	}
	return out
}

func aggregateSQL(t aggTarget) string {
	c := quoteIdent(t.col)
	switch t.m {
	case varNullCount:
		return "count(*) - count(" + c + ")"
	case varDistinctCount:
		return "count(DISTINCT " + c + ")"
	case varDuplicateCount:
		return "count(" + c + ") - count(DISTINCT " + c + ")"
	case varMin:
		return "min(" + c + ")"
	default:
		return "max(" + c + ")"
	}
}

func toInt64(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case uint64:
		return int64(v)
	case *big.Int:
		return v.Int64()
	}
	return 0
}

// quarantinePredicate is the SQL condition of quarantined rows: failing a
// translated error-severity rule, or listed in the table of rows failing an
// error-severity rule evaluated by cel-go.
func (e *evaluation) quarantinePredicate(failedIDs string) string {
	var or []string
	for i, r := range e.set.rules {
		if p, ok := e.pred[i]; ok && r.Severity == Error {
			or = append(or, failPred(p))
		}
	}
	if failedIDs != "" {
		or = append(or, "rowid IN (SELECT id FROM "+quoteIdent(failedIDs)+")")
	}
	if len(or) == 0 {
		return "FALSE"
	}
	return strings.Join(or, " OR ")
}

// sqlSamples reads up to SampleSize failing rows of each failing translated rule.
func (e *evaluation) sqlSamples(ctx context.Context) error {
	n := e.set.opt.SampleSize
	for i, p := range e.pred {
		if n == 0 || e.res[i].Failing == 0 {
			continue
		}
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s LIMIT %d", e.columnList(), e.table, failPred(p), n)
		rows, err := e.conn.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("sample rule %s: %w", e.set.rules[i].ID, err)
		}
		vals := make([]any, len(e.set.cols))
		ptrs := make([]any, len(vals))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return fmt.Errorf("sample rule %s: %w", e.set.rules[i].ID, err)
			}
			e.res[i].Samples = append(e.res[i].Samples, e.sample(vals))
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sample rule %s: %w", e.set.rules[i].ID, err)
		}
	}
	return nil
}

func (e *evaluation) columnList() string {
	q := make([]string, len(e.set.cols))
	for i, c := range e.set.cols {
		q[i] = quoteIdent(c.Name)
	}
	return strings.Join(q, ", ")
}

func (e *evaluation) sample(vals []any) map[string]any {
	m := make(map[string]any, len(vals))
	for i, c := range e.set.cols {
		m[c.Name] = jsonValue(vals[i])
	}
	return m
}

func (e *evaluation) rowStatus(r *compiled, res *RuleResult) {
	if e.rep.Rows > 0 {
		res.FailingFraction = float64(res.Failing) / float64(e.rep.Rows)
	}
	if res.Status == StatusError {
		return
	}
	switch {
	case r.Threshold.allows(res.Failing, e.rep.Rows):
		res.Status = StatusPass
		if res.Failing > 0 {
			res.Message = fmt.Sprintf("%d of %d rows fail, within the threshold", res.Failing, e.rep.Rows)
		}
		return
	case r.Severity == Error:
		res.Status = StatusFail
	default:
		res.Status = StatusWarn
	}
	allowed := "no failing row is allowed"
	if t := r.Threshold; t != nil && t.Percent {
		allowed = fmt.Sprintf("at most %g%% are allowed", t.Max)
	} else if t != nil {
		allowed = fmt.Sprintf("at most %g are allowed", t.Max)
	}
	res.Message = fmt.Sprintf("%d of %d rows (%.4g%%) fail; %s", res.Failing, e.rep.Rows, 100*res.FailingFraction, allowed)
}

// datasetRule evaluates a dataset rule once, over the aggregates.
func (e *evaluation) datasetRule(ctx context.Context, r *compiled, res *RuleResult, aggs map[string]map[string]ref.Val, fractions map[string]float64) error {
	vars := map[string]any{varRowCount: types.Int(e.rep.Rows)}
	for _, m := range aggregateMaps {
		mv := map[ref.Val]ref.Val{}
		if m == varFailingFraction {
			for id, f := range fractions {
				mv[types.String(id)] = types.Double(f)
			}
		} else {
			for k, v := range aggs[m] {
				mv[types.String(k)] = v
			}
		}
		vars[m] = types.NewRefValMap(types.DefaultTypeAdapter, mv)
	}
	if r.usesHistory {
		if why := e.ev.History.missing(r.histPaths); why != "" {
			res.Status, res.Message = StatusSkipped, "skipped: "+why
			return nil
		}
		vars[varHistory] = e.ev.History
	}
	act, err := interpreter.NewActivation(vars)
	if err != nil {
		return err
	}
	if e.cost >= e.set.opt.DatasetBudget {
		e.budgetExhausted(res)
		return nil
	}
	out, det, err := r.prg.ContextEval(ctx, act)
	if c := det.ActualCost(); c != nil {
		e.cost += *c
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil && r.usesHistory && strings.Contains(err.Error(), "no such key"):
		// A column key computed at run time that the history lacks.
		res.Status, res.Message = StatusSkipped, "skipped: the history lacks a figure the rule reads: "+err.Error()
	case err != nil:
		res.Status, res.Message = StatusError, "cannot evaluate: "+err.Error()
	case out == types.True:
		res.Status = StatusPass
	case out == types.False:
		res.Status = StatusWarn
		if r.Severity == Error {
			res.Status = StatusFail
		}
		res.Message = "the dataset does not satisfy the rule" + e.observed(r, res, aggs, fractions)
	default:
		res.Status, res.Message = StatusError, fmt.Sprintf("cannot evaluate: the rule returned %v", out)
	}
	if e.cost > e.set.opt.DatasetBudget {
		e.budgetExhausted(res)
	}
	return nil
}

func (e *evaluation) budgetExhausted(res *RuleResult) {
	res.Status = StatusError
	res.Message = fmt.Sprintf("the CEL cost budget of the dataset (%d) is exhausted; the rule is not evaluated to the end and fails closed: make rules cheaper or raise the budget", e.set.opt.DatasetBudget)
}

// write writes the passing and quarantined rows to Parquet files.
func (e *evaluation) write(ctx context.Context, quarantine string) error {
	for _, f := range []struct{ path, where string }{
		{e.ev.PassingPath, "NOT (" + quarantine + ")"},
		{e.ev.QuarantinePath, quarantine},
	} {
		if f.path == "" {
			continue
		}
		path, err := sqlString(f.path)
		if err != nil {
			return fmt.Errorf("write %s: bad path", f.path)
		}
		q := "COPY (SELECT * FROM " + e.table + " WHERE " + f.where + ") TO " + path + " (FORMAT parquet)"
		if _, err := e.conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}

// celValue converts a value read from DuckDB to the CEL value of a column type.
// A value that does not fit becomes a CEL error, so that rules reading it are
// unknown on that row.
func celValue(t Type, v any) ref.Val {
	if v == nil {
		return types.NullValue
	}
	switch t {
	case Int:
		switch v := v.(type) {
		case int64:
			return types.Int(v)
		case int32:
			return types.Int(v)
		case int16:
			return types.Int(v)
		case int8:
			return types.Int(v)
		case uint8:
			return types.Int(v)
		case uint16:
			return types.Int(v)
		case uint32:
			return types.Int(v)
		case uint64:
			if v <= math.MaxInt64 {
				return types.Int(int64(v))
			}
		case *big.Int:
			if v.IsInt64() {
				return types.Int(v.Int64())
			}
		}
	case Double:
		switch v := v.(type) {
		case float64:
			return types.Double(v)
		case float32:
			return types.Double(v)
		case interface{ Float64() float64 }:
			return types.Double(v.Float64())
		}
	case String:
		if s, ok := v.(string); ok {
			return types.String(s)
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return types.Bool(b)
		}
	case Timestamp:
		if ts, ok := v.(time.Time); ok {
			return types.Timestamp{Time: ts.UTC()}
		}
	case Bytes:
		if b, ok := v.([]byte); ok {
			return types.Bytes(b)
		}
	default:
		return types.DefaultTypeAdapter.NativeToValue(v)
	}
	return types.NewErr("value %v (%T) is not a %s", v, v, t)
}

// observed names the values a failed dataset rule read ("; found
// duplicate_count.id = 3, row_count = 10"), so that the report says what was
// wrong. A rule that reads one duplicate or null count counts it as its failing
// rows.
func (e *evaluation) observed(r *compiled, res *RuleResult, aggs map[string]map[string]ref.Val, fractions map[string]float64) string {
	var parts []string
	if slices.Contains(r.vars, varRowCount) {
		parts = append(parts, fmt.Sprintf("%s = %d", varRowCount, e.rep.Rows))
	}
	var counts []int64
	for _, m := range slices.Sorted(maps.Keys(r.keys)) {
		keys := r.keys[m]
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			name := m + "." + k
			if !isIdent(k) {
				name = m + "[" + strconv.Quote(k) + "]"
			}
			if m == varFailingFraction {
				if f, ok := fractions[k]; ok {
					parts = append(parts, fmt.Sprintf("%s = %.4g", name, f))
				}
				continue
			}
			v, ok := aggs[m][k]
			if !ok {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s = %v", name, v.Value()))
			if n, isInt := v.Value().(int64); isInt && (m == varDuplicateCount || m == varNullCount) {
				counts = append(counts, n)
			}
		}
	}
	if len(counts) == 1 {
		res.Failing = counts[0]
	}
	for _, p := range r.histPaths {
		if v, ok := e.ev.History.stat(p); ok {
			parts = append(parts, fmt.Sprintf("%s.%s = %s", varHistory, strings.Join(p, "."), num(v)))
		}
	}
	if r.usesHistory && e.ev.History != nil {
		parts = append(parts, fmt.Sprintf("over the last %d published versions", e.ev.History.Versions))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; found " + strings.Join(parts, ", ")
}

// NeedsScan reports whether a dataset rule reads an aggregate of a column (null,
// distinct or duplicate count, minimum, maximum), which only a scan of the rows
// gives. Without one, Judge evaluates every rule from counts made elsewhere.
func (s *Set) NeedsScan() bool {
	for _, r := range s.rules {
		for m := range r.keys {
			if r.kind == Dataset && m != varFailingFraction {
				return true
			}
		}
	}
	return false
}

// Judge evaluates the rules from counts made elsewhere, such as the sums of a
// partitioned version's partitions: counts maps a row rule's ID to its Checked
// and Failing rows, over rows rows. Row rules get their status from their
// thresholds; dataset rules are evaluated over the row count and the row rules'
// failing fractions, so Judge is only for sets that do not NeedsScan. It returns
// the results in the set's order; a row rule without counts has none failing.
// Dataset rules read hist as history, and are skipped when it is nil.
func (s *Set) Judge(ctx context.Context, counts map[string]*RuleResult, rows int64, hist *History) ([]RuleResult, error) {
	e := &evaluation{set: s, rep: &Report{Rows: rows, Rules: make([]RuleResult, len(s.rules))}, ev: EvalOptions{History: hist}}
	fractions := map[string]float64{}
	for i, r := range s.rules {
		res := &e.rep.Rules[i]
		*res = RuleResult{ID: r.ID, Column: r.Column, Kind: r.kind, Severity: r.Severity, Engine: EngineSQL}
		if r.kind != Row {
			res.Engine = EngineCEL
			continue
		}
		if c := counts[r.ID]; c != nil {
			res.Checked, res.Failing = c.Checked, c.Failing
		}
		e.rowStatus(r, res)
		fractions[r.ID] = res.FailingFraction
	}
	for i, r := range s.rules {
		if r.kind == Dataset {
			if err := e.datasetRule(ctx, r, &e.rep.Rules[i], map[string]map[string]ref.Val{}, fractions); err != nil {
				return nil, err
			}
		}
	}
	return e.rep.Rules, nil
}
