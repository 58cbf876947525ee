package rules

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
)

// The variables of dataset rules. Each map is keyed by column name, except
// failing_fraction, which is keyed by row rule ID.
const (
	varRowCount        = "row_count"
	varNullCount       = "null_count"
	varDistinctCount   = "distinct_count"
	varDuplicateCount  = "duplicate_count"
	varMin             = "min"
	varMax             = "max"
	varFailingFraction = "failing_fraction"
	// varHistory is the product's history (History).
	varHistory = "history"
	// varRow is the map of all columns of a row, for columns whose names are not
	// CEL identifiers.
	varRow = "row"
)

var aggregateMaps = []string{varNullCount, varDistinctCount, varDuplicateCount, varMin, varMax, varFailingFraction}

// Set is a compiled set of rules, ready to be evaluated over tables with the
// columns it was compiled for. It is safe for concurrent use.
type Set struct {
	cols   []Column
	colIdx map[string]int
	opt    Options
	rules  []*compiled
}

// compiled is one rule that compiled without errors.
type compiled struct {
	Rule
	kind Kind
	ast  *cel.Ast
	prg  cel.Program
	// vars are the top-level variables the rule reads; usesRow is set when one of
	// them is the row map.
	vars    []string
	usesRow bool
	// keys maps each aggregate variable a dataset rule reads to the keys it reads;
	// a nil set means keys not known before run time (all of them).
	keys map[string]map[string]bool
	// histPaths are the paths a dataset rule reads inside history, such as
	// [row_count median] or [columns amount null_fraction max]; a key computed
	// at run time is anyKey. usesHistory is set when the rule reads history.
	histPaths   [][]string
	usesHistory bool
}

// anyKey stands in a history path for a key computed at run time.
const anyKey = "*"

// Rules returns the IDs and kinds of the rules that compiled, in input order.
func (s *Set) Rules() map[string]Kind {
	m := map[string]Kind{}
	for _, r := range s.rules {
		m[r.ID] = r.kind
	}
	return m
}

// Compile type-checks rules against the columns of a table and compiles them.
// Every problem is added to ds, positioned inside the rule's expression where
// possible; Compile never stops at the first problem. The returned set holds the
// rules that compiled.
func Compile(cols []Column, rules []Rule, opt Options, ds *diag.List) *Set {
	opt = opt.withDefaults()
	s := &Set{cols: slices.Clone(cols), colIdx: map[string]int{}, opt: opt}
	for i, c := range cols {
		s.colIdx[c.Name] = i
	}
	rowEnv, err := newRowEnv(cols)
	if err != nil {
		// Column types are an enum and names are checked, so this is a bug.
		ds.Errorf(diag.Pos{}, "cel-env", "", "build the CEL environment for rows: %v", err)
		return s
	}
	dsEnv, err := newDatasetEnv()
	if err != nil {
		ds.Errorf(diag.Pos{}, "cel-env", "", "build the CEL environment for datasets: %v", err)
		return s
	}
	ids := map[string]bool{}
	rowIDs := map[string]bool{}
	for _, r := range rules {
		if r.ID != "" && !ids[r.ID] && (r.Column != "" || classify(rowEnv, r.Expr, s.colIdx) == Row) {
			rowIDs[r.ID] = true
		}
		ids[r.ID] = true
	}
	clear(ids)
	for _, r := range rules {
		switch {
		case r.ID == "":
			ds.Errorf(r.Pos, "rule-id", "give every rule a unique id", "rule has no id")
			continue
		case ids[r.ID]:
			ds.Errorf(r.Pos, "rule-id", "give every rule a unique id", "duplicate rule id %q", r.ID)
			continue
		}
		ids[r.ID] = true
		if c := s.compileRule(rowEnv, dsEnv, r, rowIDs, ds); c != nil {
			s.rules = append(s.rules, c)
		}
	}
	return s
}

func newRowEnv(cols []Column) (*cel.Env, error) {
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	declared := map[string]bool{}
	for _, c := range cols {
		if isIdent(c.Name) && !declared[c.Name] {
			declared[c.Name] = true
			opts = append(opts, cel.Variable(c.Name, celType(c)))
		}
	}
	if !declared[varRow] {
		opts = append(opts, cel.Variable(varRow, cel.MapType(cel.StringType, cel.DynType)))
	}
	return cel.NewEnv(opts...)
}

func newDatasetEnv() (*cel.Env, error) {
	counts := cel.MapType(cel.StringType, cel.IntType)
	return cel.NewEnv(
		cel.CrossTypeNumericComparisons(true),
		cel.Variable(varRowCount, cel.IntType),
		cel.Variable(varNullCount, counts),
		cel.Variable(varDistinctCount, counts),
		cel.Variable(varDuplicateCount, counts),
		cel.Variable(varMin, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varMax, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varFailingFraction, cel.MapType(cel.StringType, cel.DoubleType)),
		ext.NativeTypes(reflect.TypeFor[History](), ext.ParseStructTags(true)),
		cel.Variable(varHistory, cel.ObjectType(historyType)),
	)
}

// historyType is the CEL name of History, as ext.NativeTypes names it.
const historyType = "rules.History"

func celType(c Column) *cel.Type {
	var t *cel.Type
	switch c.Type {
	case Int:
		t = cel.IntType
	case Double:
		t = cel.DoubleType
	case String:
		t = cel.StringType
	case Bool:
		t = cel.BoolType
	case Timestamp:
		t = cel.TimestampType
	case Bytes:
		t = cel.BytesType
	default:
		return cel.DynType
	}
	if c.Nullable {
		return cel.NullableType(t)
	}
	return t
}

var identRE = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// celReserved are names a column cannot take as a top-level variable: CEL
// keywords and the names of built-in types.
var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true,
	"const": true, "continue": true, "else": true, "for": true, "function": true,
	"if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true,
	"int": true, "uint": true, "double": true, "bool": true, "string": true,
	"bytes": true, "list": true, "map": true, "type": true, "null_type": true,
	"dyn": true, "google": true,
}

// isIdent reports whether a column is a top-level variable of row rules.
func isIdent(name string) bool { return identRE.MatchString(name) && !celReserved[name] }

// freeIdents returns the identifiers an expression reads that are not bound by a
// comprehension inside it.
func freeIdents(e ast.Expr) []string {
	bound := map[string]bool{}
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			c := e.AsComprehension()
			bound[c.IterVar()], bound[c.AccuVar()] = true, true
			if c.HasIterVar2() {
				bound[c.IterVar2()] = true
			}
		}
	}))
	var out []string
	ast.PostOrderVisit(e, ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.IdentKind && !bound[e.AsIdent()] && !slices.Contains(out, e.AsIdent()) {
			out = append(out, e.AsIdent())
		}
	}))
	return out
}

// classify says whether a schema-level rule is a dataset rule: it reads an
// aggregate and no column. Rules that do not parse are row rules.
func classify(env *cel.Env, expr string, cols map[string]int) Kind {
	a, iss := env.Parse(expr)
	if iss.Err() != nil {
		return Row
	}
	agg := false
	for _, id := range freeIdents(a.NativeRep().Expr()) {
		if _, ok := cols[id]; ok || id == varRow {
			return Row
		}
		agg = agg || id == varRowCount || id == varHistory || slices.Contains(aggregateMaps, id)
	}
	if agg {
		return Dataset
	}
	return Row
}

func (s *Set) compileRule(rowEnv, dsEnv *cel.Env, r Rule, rowIDs map[string]bool, ds *diag.List) *compiled {
	n := ds.Len()
	if r.Column != "" {
		if _, ok := s.colIdx[r.Column]; !ok {
			ds.Errorf(r.Pos, "unknown-column", s.columnHint(r.Column),
				"rule %s is about column %q, which the schema does not have", r.ID, r.Column)
		}
	}
	c := &compiled{Rule: r, kind: Row}
	if r.Column == "" {
		c.kind = classify(rowEnv, r.Expr, s.colIdx)
	}
	if r.Threshold != nil && c.kind == Dataset {
		ds.Errorf(r.Pos, "rule-threshold", "thresholds count failing rows; a dataset rule has none",
			"dataset rule %s cannot have a threshold", r.ID)
	}
	env := rowEnv
	if c.kind == Dataset {
		env = dsEnv
	}
	parsed, iss := env.Parse(r.Expr)
	if iss.Err() != nil {
		s.celIssues(r, iss, ds)
		return nil
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		s.celIssues(r, iss, ds)
		return nil
	}
	if t := checked.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.NullableType(cel.BoolType)) {
		ds.Errorf(r.at(1, 1), "cel-type", "write a condition that is true for good data, such as `x > 0`",
			"rule %s must return a bool, it returns %s", r.ID, t)
	}
	c.ast = checked
	c.vars = freeIdents(checked.NativeRep().Expr())
	c.usesRow = slices.Contains(c.vars, varRow) && !s.hasColumn(varRow)
	if c.kind == Dataset {
		c.keys = s.checkKeys(r, checked, rowIDs, ds)
		c.histPaths = s.checkHistory(r, checked, ds)
		c.usesHistory = slices.Contains(c.vars, varHistory)
	} else {
		s.checkKeys(r, checked, nil, ds)
	}
	est, err := env.EstimateCost(checked, estimator{maxLen: s.opt.MaxStringLength, entries: uint64(len(s.cols) + len(rowIDs))})
	if err != nil {
		ds.Errorf(r.Pos, "cel-cost", "", "rule %s: estimate cost: %v", r.ID, err)
	} else if est.Max > s.opt.EstimateLimit {
		ds.Errorf(r.at(1, 1), "cel-cost",
			"avoid nested comprehensions and work over long strings or lists, or raise the estimate limit",
			"rule %s: estimated cost %d exceeds the budget %d", r.ID, est.Max, s.opt.EstimateLimit)
	}
	if ds.Len() > n {
		return nil
	}
	prg, err := programFor(env, checked, r, c.kind, s.cols, s.opt)
	if err != nil {
		ds.Errorf(r.Pos, "cel-program", "", "rule %s: %v", r.ID, err)
		return nil
	}
	c.prg = prg
	return c
}

func (s *Set) hasColumn(name string) bool { _, ok := s.colIdx[name]; return ok }

// celIssues adds parse and check errors, positioned inside the expression.
func (s *Set) celIssues(r Rule, iss *cel.Issues, ds *diag.List) {
	for _, e := range iss.Errors() {
		hint := ""
		if name, ok := strings.CutPrefix(e.Message, "undeclared reference to '"); ok {
			name, _, _ = strings.Cut(name, "'")
			hint = s.columnHint(name)
			if _, list, ok := strings.Cut(hint, "? "); ok && strings.Contains(e.Message, "did you mean") {
				hint = list // cel-go made its own suggestion
			}
		}
		switch {
		case strings.Contains(e.Message, "undeclared reference to '"+varHistory+"'"):
			hint = "history is for dataset rules, which read aggregates and no column: compare max.amount with history.columns.amount.max.max, or row_count with history.row_count.median"
		case hint != "":
		case strings.HasPrefix(e.Message, "undefined field") && strings.Contains(r.Expr, varHistory):
			hint = "history has versions, row_count and columns.<column>.null_fraction, .min and .max; each of these figures has n, last, mean, median, stddev, mad, min and max"
		case strings.HasPrefix(e.Message, "Syntax error"):
			hint = "fix the expression at the caret: a rule is a CEL condition such as `units > 0 && city != \"\"`"
		case strings.HasPrefix(e.Message, "found no matching overload"):
			hint = "give the operator or function values of the types it takes: integer columns are int, number columns double, date and timestamp columns timestamp; convert with int(), double() or string()"
		default:
			hint = "rewrite the expression so that it type-checks against the contract's columns"
		}
		ds.Errorf(r.at(e.Location.Line(), e.Location.Column()+1), "cel", hint, "rule %s: %s", r.ID, e.Message)
	}
}

// columnHint suggests the closest column name and lists the columns.
func (s *Set) columnHint(name string) string {
	names := make([]string, len(s.cols))
	for i, c := range s.cols {
		names[i] = c.Name
	}
	hint := "columns are: " + strings.Join(names, ", ")
	if best := yamlfile.Closest(name, names); best != "" {
		hint = fmt.Sprintf("did you mean %s? %s", best, hint)
	}
	return hint
}

// checkKeys checks that the keys a rule uses on the row map and on the aggregate
// maps name existing columns (or, for failing_fraction, row rules), and returns
// the keys read per map. A key computed at run time is recorded as a nil set.
func (s *Set) checkKeys(r Rule, a *cel.Ast, rowIDs map[string]bool, ds *diag.List) map[string]map[string]bool {
	keys := map[string]map[string]bool{}
	info := a.NativeRep().SourceInfo()
	vars := aggregateMaps
	if rowIDs == nil {
		vars = []string{varRow}
		if s.hasColumn(varRow) {
			return nil
		}
	}
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		var operand ast.Expr
		key, known := "", false
		switch e.Kind() {
		case ast.SelectKind:
			operand, key, known = e.AsSelect().Operand(), e.AsSelect().FieldName(), true
		case ast.CallKind:
			call := e.AsCall()
			if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
				return
			}
			operand = call.Args()[0]
			if k := call.Args()[1]; k.Kind() == ast.LiteralKind {
				key, known = fmt.Sprint(k.AsLiteral().Value()), true
			}
		default:
			return
		}
		if operand.Kind() != ast.IdentKind || !slices.Contains(vars, operand.AsIdent()) {
			return
		}
		m := operand.AsIdent()
		if !known {
			keys[m] = nil
			return
		}
		if set, ok := keys[m]; ok && set == nil {
			// Already reads every key.
		} else if ok {
			set[key] = true
		} else {
			keys[m] = map[string]bool{key: true}
		}
		loc := info.GetStartLocation(e.ID())
		at := r.at(loc.Line(), loc.Column()+1)
		if m == varFailingFraction {
			if !rowIDs[key] {
				ids := slices.Sorted(maps.Keys(rowIDs))
				hint := "row rules are: " + strings.Join(ids, ", ")
				if best := yamlfile.Closest(key, ids); best != "" {
					hint = fmt.Sprintf("did you mean %s? %s", best, hint)
				}
				ds.Errorf(at, "unknown-rule", hint, "rule %s: failing_fraction.%s names no row rule", r.ID, key)
			}
		} else if !s.hasColumn(key) {
			ds.Errorf(at, "unknown-column", s.columnHint(key), "rule %s: %s[%s] names no column", r.ID, m, strconv.Quote(key))
		}
	}))
	return keys
}

// estimator gives the static cost estimate sizes: strings and bytes (or dyn
// values) of up to MaxStringLength, variable maps with an entry per column or
// rule.
type estimator struct{ maxLen, entries uint64 }

func (e estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if n.ComputedSize() != nil {
		return nil
	}
	s := cost.SizeEstimate{Max: e.maxLen}
	switch n.Type().Kind() {
	case types.MapKind:
		if len(n.Path()) == 0 {
			return nil
		}
		s.Max = e.entries
	case types.StringKind, types.BytesKind, types.DynKind:
	default:
		return nil
	}
	return &s
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}

// programs caches compiled programs by rule ID, kind, limits and a hash of the
// source and the columns, so that compiling the same contract again (validate,
// then every refresh) does not plan the same programs again.
var programs sync.Map

type programKey struct {
	id   string
	hash [32]byte
}

func programFor(env *cel.Env, a *cel.Ast, r Rule, k Kind, cols []Column, opt Options) (cel.Program, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00", k, opt.RuleCostLimit, r.Expr)
	if k == Row {
		for _, c := range cols {
			fmt.Fprintf(h, "%q:%d:%t\x00", c.Name, c.Type, c.Nullable)
		}
	}
	key := programKey{id: r.ID}
	h.Sum(key.hash[:0])
	if p, ok := programs.Load(key); ok {
		return p.(cel.Program), nil
	}
	p, err := env.Program(a,
		cel.CostLimit(opt.RuleCostLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, err
	}
	programs.Store(key, p)
	return p, nil
}

// checkHistory returns the paths a dataset rule reads inside history, longest
// first and without the paths they extend, and checks that the column keys of
// history.columns name columns.
func (s *Set) checkHistory(r Rule, a *cel.Ast, ds *diag.List) [][]string {
	info := a.NativeRep().SourceInfo()
	var paths [][]string
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		p, ok := historyPath(e)
		if !ok || len(p) == 0 {
			return
		}
		if len(p) == 2 && p[0] == "columns" && p[1] != anyKey && !s.hasColumn(p[1]) {
			loc := info.GetStartLocation(e.ID())
			ds.Errorf(r.at(loc.Line(), loc.Column()+1), "unknown-column", s.columnHint(p[1]),
				"rule %s: history.columns[%s] names no column", r.ID, strconv.Quote(p[1]))
		}
		paths = append(paths, p)
	}))
	var out [][]string
	for i, p := range paths {
		extended := slices.ContainsFunc(paths, func(q []string) bool {
			return len(q) > len(p) && slices.Equal(q[:len(p)], p)
		})
		if !extended && !slices.ContainsFunc(paths[:i], func(q []string) bool { return slices.Equal(q, p) }) {
			out = append(out, p)
		}
	}
	return out
}

// historyPath returns the path of field selections and constant indexes from
// the history variable to e (empty for history itself), with anyKey for an
// index computed at run time; ok is false when e is not such a chain. A has()
// test is not a read.
func historyPath(e ast.Expr) (path []string, ok bool) {
	switch e.Kind() {
	case ast.IdentKind:
		return nil, e.AsIdent() == varHistory
	case ast.SelectKind:
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil, false
		}
		p, ok := historyPath(sel.Operand())
		return append(p, sel.FieldName()), ok
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() != operators.Index || len(call.Args()) != 2 {
			return nil, false
		}
		p, ok := historyPath(call.Args()[0])
		key := anyKey
		if k := call.Args()[1]; k.Kind() == ast.LiteralKind {
			key = fmt.Sprint(k.AsLiteral().Value())
		}
		return append(p, key), ok
	}
	return nil, false
}
