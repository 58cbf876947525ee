package meshcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/rules"
)

// bindSQL binds each product's transform SQL, without running it, over empty
// tables with the columns of its inputs, where every input's columns can be
// known before a run: an upstream product's from its contract, a local file's
// from the file in the mesh folder. A column or table the SQL names that the
// inputs do not have is then an error at validate time, not in the first run.
// Products with an input whose columns cannot be known (s3://, PostgreSQL, a
// file not there yet) are not bound. Products whose SQL does not parse were
// reported by checkSQL and are skipped.
func bindSQL(ctx context.Context, set *spec.Set, skip map[string]bool, ds *diag.List) {
	scratch, err := os.MkdirTemp("", "meshflow-validate-")
	if err != nil {
		return
	}
	defer os.RemoveAll(scratch)
	var files *engine.DB // reads the mesh folder's files, sandboxed to it
	defer func() {
		if files != nil {
			files.Close()
		}
	}()
	binder := engine.NewBinder(filepath.Join(scratch, "bind"))
	defer binder.Close()
	cache := loadColumnCache()
	defer cache.Save()
	for _, p := range set.Products {
		if skip[p.Ref()] || p.Doc == nil || p.Doc.At("transform", "sql") == nil {
			continue
		}
		var tables []engine.Table
		var pins []string
		known := true
		for _, in := range p.Inputs {
			if in.Major > 0 {
				pins = append(pins, fmt.Sprintf("%s pins %s@%d", in.Name, in.Product, in.Major))
			}
			cols, ok := inputColumns(ctx, set, in, scratch, &files, cache)
			if !ok {
				known = false
				break
			}
			tables = append(tables, engine.Table{Name: in.Name, Columns: cols})
		}
		if !known {
			continue
		}
		_, err := binder.Bind(ctx, tables, p.Transform.SQL)
		be, ok := errors.AsType[*engine.BindError](err)
		if !ok {
			continue // not a binding problem: the run reports it
		}
		msg, _, _ := strings.Cut(be.Message, "\n")
		var names []string
		for _, t := range tables {
			var cols []string
			for _, c := range t.Columns {
				cols = append(cols, c.Name)
			}
			names = append(names, t.Name+" ("+strings.Join(cols, ", ")+")")
		}
		pos := p.Doc.PosAt("transform", "sql")
		if line, col, ok := caret(be.Message, p.Transform.SQL); ok {
			pos = p.Doc.ScalarPos(p.Doc.At("transform", "sql"), line, col)
		}
		hint := "the inputs are " + strings.Join(names, "; ") + ": fix the names in the SQL, or the inputs"
		if len(pins) > 0 {
			// A pinned major may still have the columns the producer's spec
			// dropped since: only the run knows.
			ds.Warnf(pos, "sql-bind", hint+" (the columns of a pinned input are those its producer publishes next; the pinned major's may differ)",
				"transform.sql does not bind over its inputs as their specs stand (%s): %s", strings.Join(pins, ", "), msg)
			continue
		}
		ds.Errorf(pos, "sql-bind", hint, "transform.sql does not bind over its inputs: %s", msg)
	}
}

// inputColumns returns the columns of an input, when they can be known
// before a run. Those of an input that pins a major are those of the
// producer's spec, which describes its next version: the pinned major's may
// differ (the caller warns rather than fails).
func inputColumns(ctx context.Context, set *spec.Set, in spec.Input, scratch string, files **engine.DB, cache columnCache) ([]engine.Column, bool) {
	if in.Product != "" {
		up := set.Product(in.Product)
		if up == nil || up.Contract == nil || len(up.Contract.Schema) != 1 {
			return nil, false
		}
		var cols []engine.Column
		for _, prop := range up.Contract.Schema[0].Properties {
			cols = append(cols, engine.Column{Name: prop.Name, Type: rules.DuckDBType(prop.LogicalType, prop.PhysicalType)})
		}
		return cols, len(cols) > 0
	}
	rel, ok := strings.CutPrefix(in.URI, "file://")
	if !ok || filepath.IsAbs(rel) {
		return nil, false
	}
	format := in.DataFormat()
	path := filepath.Join(set.Dir, filepath.FromSlash(rel))
	var list []string
	if fi, err := os.Stat(path); err != nil {
		return nil, false
	} else if fi.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, false
		}
		for _, e := range entries {
			if !e.IsDir() && refresh.FormatOfName(e.Name()) == format {
				list = append(list, filepath.Join(path, e.Name()))
			}
		}
		slices.Sort(list)
	} else {
		list = []string{path}
	}
	if len(list) == 0 {
		return nil, false
	}
	for _, f := range list {
		if spec.LeavesMesh(set.Dir, f) != "" {
			return nil, false // refused by the spec's checks; never read
		}
	}
	input := engine.Input{Name: in.Name, Format: format, Files: list, Delimiter: in.Delimiter, Header: in.Header}
	key, cacheable := cache.key(input)
	if cols, ok := cache.Get(key); cacheable && ok {
		return cols, true
	}
	if *files == nil {
		db, err := engine.Open(ctx, filepath.Join(scratch, "files"), 1, "256MB", 0, set.Dir)
		if err != nil {
			return nil, false
		}
		*files = db
	}
	cols, err := (*files).DescribeInput(ctx, input)
	if err != nil || len(cols) == 0 {
		return nil, false
	}
	if cacheable {
		cache.Put(key, cols)
	}
	return cols, true
}

// caret finds where DuckDB's error points in the SQL: its "LINE n: <text>" echo
// and the caret under it, mapped back to a 1-based line and column of sql.
func caret(msg, sql string) (line, col int, ok bool) {
	lines := strings.Split(msg, "\n")
	for i := 0; i+1 < len(lines); i++ {
		rest, found := strings.CutPrefix(lines[i], "LINE ")
		if !found {
			continue
		}
		num, shown, found := strings.Cut(rest, ": ")
		n, err := strconv.Atoi(num)
		mark := strings.IndexByte(lines[i+1], '^')
		src := strings.Split(sql, "\n")
		if !found || err != nil || n < 1 || n > len(src) || mark < 0 {
			return 0, 0, false
		}
		at := mark - len("LINE "+num+": ")
		// engine.Bind asks DuckDB to DESCRIBE the query: the first line's echo
		// starts with that word, which is not in the SQL.
		trimmed := strings.TrimPrefix(strings.TrimPrefix(shown, "..."), "DESCRIBE ")
		at -= len(shown) - len(trimmed)
		off := strings.Index(src[n-1], strings.TrimSuffix(trimmed, "..."))
		if off < 0 || at < 0 {
			return 0, 0, false
		}
		return n, off + at + 1, true
	}
	return 0, 0, false
}
