// Package impact checks, before sign-off, what a product's schema change does
// to the products that read it: whether each consumer's SQL still binds over
// the candidate's columns, and which of its output columns read the columns
// that change. The SQL never runs: DuckDB binds and plans it over empty tables
// in the engine's sandbox (engine.Bind, engine.Lineage).
package impact

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
)

// Changed lists the columns of old (the last published version's) that new
// (the candidate's) removes, renames or retypes, in old's order. A column
// that is gone counts as renamed when exactly one column is gone, exactly one
// is new, and the new one has the old one's type and place; otherwise it
// counts as removed. Added columns break no consumer and are not listed.
func Changed(old, new []refresh.Column) []refresh.ChangedColumn {
	newType := map[string]string{}
	for _, c := range new {
		newType[c.Name] = c.Type
	}
	oldNames := map[string]bool{}
	for _, c := range old {
		oldNames[c.Name] = true
	}
	var added []int
	for i, c := range new {
		if !oldNames[c.Name] {
			added = append(added, i)
		}
	}
	var out []refresh.ChangedColumn
	gone := -1
	for i, c := range old {
		t, ok := newType[c.Name]
		switch {
		case !ok:
			gone = i
			out = append(out, refresh.ChangedColumn{Name: c.Name, Change: refresh.ColumnRemoved, Type: c.Type})
		case !strings.EqualFold(t, c.Type):
			out = append(out, refresh.ChangedColumn{Name: c.Name, Change: refresh.ColumnRetyped, Type: c.Type, NewType: t})
		}
	}
	removed := 0
	for _, c := range out {
		if c.Change == refresh.ColumnRemoved {
			removed++
		}
	}
	if removed == 1 && len(added) == 1 && added[0] == gone && strings.EqualFold(new[gone].Type, old[gone].Type) {
		for i := range out {
			if out[i].Change == refresh.ColumnRemoved {
				out[i].Change, out[i].NewName = refresh.ColumnRenamed, new[gone].Name
			}
		}
	}
	return out
}

// Columns returns the columns a consumer's input other than the changed
// product holds, when they can be known before the consumer's run (for an
// upstream product, those of its latest published version); ok is false
// otherwise.
type Columns func(ctx context.Context, in refresh.Input) (cols []refresh.Column, ok bool, err error)

// Change is a product's schema change: Old are the columns of its last
// published version, which its consumers read now, New the candidate's.
type Change struct {
	Product  string
	Old, New []refresh.Column
	// Major is the major version the candidate is published as; a consumer
	// pinned to an older one keeps reading that and is listed as pinned,
	// unaffected, without checking its SQL. Zero checks every consumer.
	Major int
}

// Analyze checks every consumer against a change and returns the impact, or
// nil when no column changes. scratch is a local folder for DuckDB's files.
//
// For each consumer it binds the SQL twice, over empty tables: the inputs
// that read the changed product get its New columns, to see whether the SQL
// still binds (and DuckDB's binder error when it does not), and its Old
// columns, over which the SQL binds today, to find its column lineage
// (engine.Lineage): the output columns whose values read a changed column. The
// consumer's other inputs get the columns columns knows; a consumer with an
// input whose columns are not known is reported as not checked. A consumer
// whose SQL did not bind over the old columns either is reported with the
// binder error and no lineage. A consumer pinned to an older major than
// ch.Major is listed as pinned and unaffected.
func Analyze(ctx context.Context, scratch string, ch Change, consumers []refresh.Product, columns Columns) (*refresh.Impact, error) {
	changed := Changed(ch.Old, ch.New)
	if len(changed) == 0 {
		return nil, nil
	}
	im := &refresh.Impact{Changed: changed}
	for i, c := range consumers {
		if refresh.PinnedBelow(c, ch.Product, ch.Major) {
			pin := refresh.PinOf(c, ch.Product)
			im.Consumers = append(im.Consumers, refresh.ConsumerImpact{Product: c.Ref(), Pinned: pin, Binds: true,
				Summary: fmt.Sprintf("%s is pinned to @%d, unaffected: it keeps reading the newest %d.x of %s", c.Ref(), pin, pin, ch.Product)})
			continue
		}
		ci, err := consumer(ctx, filepath.Join(scratch, fmt.Sprint(i)), ch, changed, c, columns)
		if err != nil {
			return nil, fmt.Errorf("check consumer %s: %w", c.Ref(), err)
		}
		im.Consumers = append(im.Consumers, ci)
	}
	return im, nil
}

func consumer(ctx context.Context, scratch string, ch Change, changed []refresh.ChangedColumn, c refresh.Product, columns Columns) (refresh.ConsumerImpact, error) {
	res := refresh.ConsumerImpact{Product: c.Ref()}
	var oldTables, newTables []engine.Table
	reads := map[string]bool{} // the tables that are the changed product
	for _, in := range c.Inputs {
		if in.Product == ch.Product {
			reads[in.Name] = true
			oldTables = append(oldTables, table(in.Name, ch.Old))
			newTables = append(newTables, table(in.Name, ch.New))
			continue
		}
		cols, ok, err := columns(ctx, in)
		if err != nil {
			return res, err
		}
		if !ok {
			res.Summary = fmt.Sprintf("%s was not checked: the columns of its input %s are not known before its run", c.Ref(), in.Name)
			return res, nil
		}
		oldTables = append(oldTables, table(in.Name, cols))
		newTables = append(newTables, table(in.Name, cols))
	}
	res.Checked = true
	_, err := engine.Bind(ctx, filepath.Join(scratch, "new"), newTables, c.SQL)
	if be, ok := errors.AsType[*engine.BindError](err); ok {
		res.Error, _, _ = strings.Cut(be.Message, "\n")
	} else if err != nil {
		return res, err
	} else {
		res.Binds = true
	}

	isChanged := map[string]refresh.ChangedColumn{}
	for _, cc := range changed {
		isChanged[cc.Name] = cc
	}
	lineage, err := engine.Lineage(ctx, filepath.Join(scratch, "old"), oldTables, c.SQL)
	if be, ok := errors.AsType[*engine.BindError](err); ok {
		msg, _, _ := strings.Cut(be.Message, "\n")
		if res.Binds {
			res.Summary = fmt.Sprintf("%s binds over the candidate, and did not bind over the published columns: %s", c.Ref(), msg)
		} else {
			res.Summary = fmt.Sprintf("%s will fail, as it would today: its SQL does not bind: %s", c.Ref(), res.Error)
		}
		return res, nil
	} else if err != nil {
		return res, err
	}
	read := map[string]bool{}
	for _, out := range lineage {
		var cols []string
		for _, tc := range out.Reads {
			if _, ok := isChanged[tc.Column]; ok && reads[tc.Table] && !slices.Contains(cols, tc.Column) {
				cols = append(cols, tc.Column)
				read[tc.Column] = true
			}
		}
		if len(cols) > 0 {
			res.Outputs = append(res.Outputs, refresh.OutputImpact{Column: out.Name, Reads: cols})
		}
	}
	var what []string
	for _, cc := range changed {
		if read[cc.Name] {
			res.Reads = append(res.Reads, cc.Name)
			what = append(what, "`"+cc.Name+"`, "+cc.Describe())
		}
	}
	switch {
	case !res.Binds && len(what) > 0:
		res.Summary = fmt.Sprintf("%s will fail: its SQL reads %s", c.Ref(), strings.Join(what, "; "))
	case !res.Binds:
		res.Summary = fmt.Sprintf("%s will fail: its SQL does not bind over the candidate: %s", c.Ref(), res.Error)
	case len(what) > 0:
		var outs []string
		for _, o := range res.Outputs {
			outs = append(outs, "`"+o.Column+"`")
		}
		res.Summary = fmt.Sprintf("%s still binds, but its output columns %s read %s", c.Ref(), strings.Join(outs, ", "), strings.Join(what, "; "))
	default:
		res.Summary = fmt.Sprintf("%s still binds and reads none of the changed columns", c.Ref())
	}
	return res, nil
}

func table(name string, cols []refresh.Column) engine.Table {
	t := engine.Table{Name: name}
	for _, c := range cols {
		t.Columns = append(t.Columns, engine.Column{Name: c.Name, Type: c.Type})
	}
	return t
}
