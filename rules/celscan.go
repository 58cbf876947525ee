package rules

import (
	"context"
	"errors"
	"fmt"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

// rowActivation resolves the variables of row rules to the values of one row.
type rowActivation struct {
	idx  map[string]int // variable name to column index
	vals []ref.Val
	row  ref.Val // the row map, built only for rules that read it
}

func (a *rowActivation) ResolveName(name string) (any, bool) {
	if i, ok := a.idx[name]; ok {
		return a.vals[i], true
	}
	if name == varRow && a.row != nil {
		return a.row, true
	}
	return nil, false
}

func (a *rowActivation) Parent() interpreter.Activation { return nil }

// celScan evaluates the row rules left to cel-go in one scan of the table. It
// returns the name of a temporary table holding the rowids of rows failing an
// error-severity rule, or "" when there are none.
func (e *evaluation) celScan(ctx context.Context) (string, error) {
	var active []int
	needRowid := false
	for i, r := range e.set.rules {
		if _, ok := e.pred[i]; r.kind == Row && !ok {
			active = append(active, i)
			needRowid = needRowid || r.Severity == Error
		}
	}
	if len(active) == 0 {
		return "", nil
	}
	if needRowid {
		if err := e.ensureRowid(ctx); err != nil {
			return "", err
		}
	}
	usesRow := false
	for _, i := range active {
		usesRow = usesRow || e.set.rules[i].usesRow
	}
	cols := e.set.cols
	act := &rowActivation{idx: map[string]int{}, vals: make([]ref.Val, len(cols))}
	for i, c := range cols {
		if isIdent(c.Name) {
			if _, dup := act.idx[c.Name]; !dup {
				act.idx[c.Name] = i
			}
		}
	}
	sel := e.columnList()
	if needRowid {
		sel = "rowid, " + sel
	}
	rows, err := e.conn.QueryContext(ctx, "SELECT "+sel+" FROM "+e.table)
	if err != nil {
		return "", fmt.Errorf("read rows for cel-go: %w", err)
	}
	defer rows.Close()
	raw := make([]any, len(cols)+1)
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if !needRowid {
		ptrs = ptrs[1:]
	}
	var failed []int64
	limit, budget := e.set.opt.RuleCostLimit, e.set.opt.DatasetBudget
	for n := int64(1); rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return "", fmt.Errorf("read rows for cel-go: %w", err)
		}
		vals := raw[1:]
		for i, c := range cols {
			act.vals[i] = celValue(c.Type, vals[i])
		}
		if usesRow {
			m := make(map[ref.Val]ref.Val, len(cols))
			for i, c := range cols {
				m[types.String(c.Name)] = act.vals[i]
			}
			act.row = types.NewRefValMap(types.DefaultTypeAdapter, m)
		}
		rowFailed := false
		for k := 0; k < len(active); k++ {
			i := active[k]
			r, res := e.set.rules[i], e.res[i]
			out, det, err := r.prg.ContextEval(ctx, act)
			if c := det.ActualCost(); c != nil {
				e.cost += *c
			}
			var cancelled interpreter.EvalCancelledError
			switch {
			case ctx.Err() != nil:
				return "", ctx.Err()
			case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
				res.Status = StatusError
				res.Message = fmt.Sprintf("row %d costs more than the rule cost limit %d; the rule fails closed: make it cheaper or raise the limit", n, limit)
			case err != nil:
				// Unknown on this row (a null operand, division by zero, ...).
				continue
			case out == types.False:
				res.Checked++
				res.Failing++
				rowFailed = rowFailed || r.Severity == Error
				if len(res.Samples) < e.set.opt.SampleSize {
					res.Samples = append(res.Samples, e.sample(vals))
				}
				continue
			case out == types.True:
				res.Checked++
				continue
			default:
				// null: unknown.
				continue
			}
			active = append(active[:k], active[k+1:]...)
			k--
		}
		if rowFailed {
			failed = append(failed, toInt64(raw[0]))
		}
		if e.cost > budget {
			for _, i := range active {
				e.budgetExhausted(e.res[i])
			}
			break
		}
		if len(active) == 0 {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read rows for cel-go: %w", err)
	}
	return e.storeFailed(ctx, failed)
}

// ensureRowid makes e.table a table with DuckDB's rowid: a view or a table
// function result is copied into a temporary table first.
func (e *evaluation) ensureRowid(ctx context.Context) error {
	rows, err := e.conn.QueryContext(ctx, "SELECT rowid FROM "+e.table+" LIMIT 0")
	if err == nil {
		return rows.Close()
	}
	t := quoteIdent(e.tempName("src"))
	if _, err := e.conn.ExecContext(ctx, "CREATE TEMP TABLE "+t+" AS SELECT * FROM "+e.table); err != nil {
		return fmt.Errorf("copy the table to evaluate rules with cel-go: %w", err)
	}
	e.table = t
	return nil
}

// storeFailed writes rowids to a temporary table and returns its name.
func (e *evaluation) storeFailed(ctx context.Context, ids []int64) (string, error) {
	if len(ids) == 0 {
		return "", nil
	}
	name := e.tempName("failed")
	if _, err := e.conn.ExecContext(ctx, "CREATE TEMP TABLE "+quoteIdent(name)+" (id BIGINT)"); err != nil {
		return "", fmt.Errorf("store failing rows: %w", err)
	}
	const chunk = 100_000
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		if _, err := e.conn.ExecContext(ctx, "INSERT INTO "+quoteIdent(name)+" SELECT unnest(?::BIGINT[])", ids[:n]); err != nil {
			return "", fmt.Errorf("store failing rows: %w", err)
		}
		ids = ids[n:]
	}
	return name, nil
}
