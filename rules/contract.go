package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// FromContract derives what the rules engine checks from an ODCS contract: the
// columns of its first schema object, typed for CEL, and its rules: the CEL rules of
// `quality[]` (type custom, engine cel), the ODCS library metrics (rowCount,
// nullValues, missingValues, invalidValues, duplicateValues) translated to CEL, and
// the schema's own constraints (`required` columns must not be null, `unique`
// columns must not repeat). Problems (an unsupported operator, a metric on an unknown
// column) are added to ds with their position.
//
// Quality rules for other engines and of type text or sql are not evaluated by
// meshflow; package contract reports them.
func FromContract(c *contract.Contract, ds *diag.List) ([]Column, []Rule) {
	if c == nil || len(c.Schema) == 0 {
		return nil, nil
	}
	if len(c.Schema) > 1 {
		ds.Warnf(c.Pos("schema", 1), "multiple-objects", "publish each table as its own data product",
			"meshflow publishes one table per product and checks only schema object %q", c.Schema[0].Name)
	}
	AnomaliesEnabled(c, ds)
	obj := c.Schema[0]
	b := builder{c: c, ds: ds, ids: map[string]bool{}}
	for _, p := range obj.Properties {
		// Every column is nullable for the rules: `required` is itself checked by a
		// rule (x != null), so the data may well hold the nulls it forbids.
		b.cols = append(b.cols, Column{Name: p.Name, Type: ColumnType(p.LogicalType, p.PhysicalType), Nullable: true})
	}
	for _, p := range obj.Properties {
		if p.Required || p.PrimaryKey {
			b.add(Rule{ID: p.Name + "_required", Column: p.Name, Expr: ident(p.Name) + " != null", Severity: Error,
				Pos: c.Doc.PosAt(append(slices.Clone(p.Path), "required")...)})
		}
		if p.Unique || p.PrimaryKey {
			b.add(Rule{ID: p.Name + "_unique", Expr: aggregate(varDuplicateCount, p.Name) + " == 0", Severity: Error,
				Pos: c.Doc.PosAt(append(slices.Clone(p.Path), "unique")...)})
		}
		for i, q := range p.Quality {
			b.quality(q, p.Name, fmt.Sprintf("%s_%d", p.Name, i+1))
		}
	}
	for i, q := range obj.Quality {
		b.quality(q, "", fmt.Sprintf("%s_%d", obj.Name, i+1))
	}
	return b.cols, b.rules
}

// AnomalyProperty is the contract-level custom property that turns the built-in
// anomaly warnings off: `customProperties: [{property: meshflow.anomalies,
// value: off}]`.
const AnomalyProperty = "meshflow.anomalies"

// AnomaliesEnabled reports whether the contract keeps the built-in anomaly
// warnings (the default): its custom property meshflow.anomalies is absent, on
// or true, not off or false. Any other value is added to ds, positioned, and
// keeps them on.
func AnomaliesEnabled(c *contract.Contract, ds *diag.List) bool {
	if c == nil {
		return true
	}
	on := true
	for i, cp := range c.CustomProperties {
		if cp.Property != AnomalyProperty {
			continue
		}
		switch v := cp.Value.(type) {
		case bool:
			on = v
		case string:
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "off", "false":
				on = false
			case "on", "true":
				on = true
			default:
				ds.Errorf(c.Pos("customProperties", i, "value"), "custom-property", "write off to turn the anomaly warnings off, or on",
					"%s is %q, not on or off", AnomalyProperty, v)
			}
		default:
			ds.Errorf(c.Pos("customProperties", i, "value"), "custom-property", "write off to turn the anomaly warnings off, or on",
				"%s is %v, not on or off", AnomalyProperty, v)
		}
	}
	return on
}

// DuckDBType returns the DuckDB type a contract column of the given logical
// and physical types is checked as.
func DuckDBType(logical, physical string) string {
	switch ColumnType(logical, physical) {
	case Int:
		return "BIGINT"
	case Double:
		return "DOUBLE"
	case Bool:
		return "BOOLEAN"
	case Timestamp:
		if logical == "date" {
			return "DATE"
		}
		return "TIMESTAMP"
	}
	return "VARCHAR"
}

// ColumnType maps an ODCS logicalType, refined by the physicalType when it names a
// SQL type, to the type rules see.
func ColumnType(logical, physical string) Type {
	p := strings.ToLower(physical)
	if i := strings.IndexByte(p, '('); i >= 0 {
		p = p[:i]
	}
	switch strings.TrimSpace(p) {
	case "int", "integer", "bigint", "smallint", "tinyint", "long", "int64", "int32", "hugeint":
		return Int
	case "float", "double", "real", "decimal", "numeric", "float64":
		return Double
	case "varchar", "text", "string", "char":
		return String
	case "bool", "boolean":
		return Bool
	case "date", "timestamp", "timestamptz", "datetime":
		return Timestamp
	}
	switch logical {
	case "integer":
		return Int
	case "number":
		return Double
	case "string":
		return String
	case "boolean":
		return Bool
	case "date", "timestamp":
		return Timestamp
	}
	return Dyn
}

type builder struct {
	c     *contract.Contract
	ds    *diag.List
	cols  []Column
	rules []Rule
	ids   map[string]bool
}

func (b *builder) add(r Rule) {
	if b.ids[r.ID] {
		b.ds.Errorf(r.Pos, "duplicate-rule-id", "give each quality rule its own id", "rule id %q is used twice", r.ID)
		return
	}
	b.ids[r.ID] = true
	b.rules = append(b.rules, r)
}

func (b *builder) column(name string) (Column, bool) {
	for _, c := range b.cols {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ident returns how a CEL expression names a column.
// aggregate returns the CEL expression of one column's value in an aggregate
// map ("duplicate_count.id", or duplicate_count["order id"] for a name that is
// not an identifier).
func aggregate(m, column string) string {
	if isIdent(column) {
		return m + "." + column
	}
	return m + "[" + strconv.Quote(column) + "]"
}

func ident(name string) string {
	if isIdent(name) {
		return name
	}
	return "row[" + strconv.Quote(name) + "]"
}

func (b *builder) quality(q *contract.Quality, column, defaultID string) {
	id := q.ID
	if id == "" {
		id = defaultID
	}
	sev := Error
	switch strings.ToLower(q.Severity) {
	case "warning", "warn", "info":
		sev = Warning
	}
	pos := b.c.Doc.PosAt(q.Path...)
	kind := q.Type
	if kind == "" && q.Metric != "" {
		kind = "library"
	}
	switch {
	case kind == "custom" && strings.EqualFold(q.Engine, "cel"):
		if q.ImplementationNode == nil || strings.TrimSpace(q.Implementation) == "" {
			b.ds.Errorf(pos, "missing-implementation", `write the CEL expression in implementation: "…"`, "CEL rule %q has no implementation", id)
			return
		}
		node := q.ImplementationNode
		doc := b.c.Doc
		b.add(Rule{ID: id, Column: column, Expr: q.Implementation, Severity: sev, Pos: doc.Pos(node),
			Locate: func(line, col int) diag.Pos { return doc.ScalarPos(node, line, col) }})
	case kind == "library":
		b.library(q, column, id, sev, pos)
	}
}

// library translates an ODCS library metric into a rule.
func (b *builder) library(q *contract.Quality, column, id string, sev Severity, pos diag.Pos) {
	cols := []string{}
	if column != "" {
		cols = append(cols, column)
	}
	if props, ok := q.Arguments["properties"].([]any); ok && column == "" {
		for _, p := range props {
			if s, ok := p.(string); ok {
				cols = append(cols, s)
			}
		}
	}
	for _, c := range cols {
		if _, ok := b.column(c); !ok {
			b.ds.Errorf(pos, "unknown-column", "name a column of the schema", "metric %s refers to unknown column %q", q.Metric, c)
			return
		}
	}
	percent := strings.EqualFold(q.Unit, "percent")
	switch q.Metric {
	case "rowCount":
		if expr, ok := b.compare(q, "row_count", pos, false); ok {
			b.add(Rule{ID: id, Expr: expr, Severity: sev, Pos: pos})
		}
	case "duplicateValues":
		if len(cols) != 1 {
			b.ds.Errorf(pos, "unsupported-metric", "check one column per duplicateValues rule (arguments.properties: [column])",
				"duplicateValues over %d columns is not evaluated by meshflow", len(cols))
			return
		}
		value := aggregate(varDuplicateCount, cols[0])
		if percent {
			value = fmt.Sprintf("(row_count == 0 ? 0.0 : double(%s) * 100.0 / double(row_count))", value)
		}
		if expr, ok := b.compare(q, value, pos, percent); ok {
			b.add(Rule{ID: id, Expr: expr, Severity: sev, Pos: pos})
		}
	case "nullValues", "missingValues", "invalidValues":
		if len(cols) != 1 {
			b.ds.Errorf(pos, "unsupported-metric", "put the rule under the column's quality, or name one column in arguments.properties",
				"%s needs exactly one column", q.Metric)
			return
		}
		col, _ := b.column(cols[0])
		cond, ok := b.rowCondition(q, col, pos)
		if !ok {
			return
		}
		th, ok := b.threshold(q, pos, percent)
		if !ok {
			return
		}
		b.add(Rule{ID: id, Column: col.Name, Expr: cond, Severity: sev, Threshold: th, Pos: pos})
	default:
		b.ds.Errorf(pos, "unknown-metric", "use rowCount, nullValues, missingValues, invalidValues or duplicateValues",
			"unknown library metric %q", q.Metric)
	}
}

// rowCondition is the condition a good row meets for a per-row metric.
func (b *builder) rowCondition(q *contract.Quality, col Column, pos diag.Pos) (string, bool) {
	x := ident(col.Name)
	switch q.Metric {
	case "nullValues":
		return x + " != null", true
	case "missingValues":
		cond := x + " != null"
		if vals, ok := q.Arguments["missingValues"].([]any); ok && len(vals) > 0 {
			list, ok := b.literals(vals, col, pos)
			if !ok {
				return "", false
			}
			cond += " && !(" + x + " in " + list + ")"
		}
		return cond, true
	default: // invalidValues
		var parts []string
		if vals, ok := q.Arguments["validValues"].([]any); ok {
			list, ok := b.literals(vals, col, pos)
			if !ok {
				return "", false
			}
			parts = append(parts, x+" in "+list)
		}
		if p, ok := q.Arguments["pattern"].(string); ok {
			if col.Type != String {
				b.ds.Errorf(pos, "pattern-type", "use validValues for columns that are not strings", "pattern applies to string columns, %q is not one", col.Name)
				return "", false
			}
			if _, err := regexp.Compile(p); err != nil {
				b.ds.Errorf(pos, "bad-pattern", "write an RE2 regular expression", "pattern %q does not compile: %v", p, err)
				return "", false
			}
			parts = append(parts, x+".matches("+strconv.Quote(p)+")")
		}
		if len(parts) == 0 {
			b.ds.Errorf(pos, "missing-argument", "add arguments: {validValues: [...]} or arguments: {pattern: \"...\"}",
				"invalidValues needs validValues or a pattern")
			return "", false
		}
		return x + " == null || (" + strings.Join(parts, " && ") + ")", true
	}
}

// literals renders values as a CEL list of the column's type.
func (b *builder) literals(vals []any, col Column, pos diag.Pos) (string, bool) {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		switch col.Type {
		case String:
			out = append(out, strconv.Quote(fmt.Sprint(v)))
		case Int:
			switch n := v.(type) {
			case int64:
				out = append(out, strconv.FormatInt(n, 10))
			case float64:
				if n != float64(int64(n)) {
					b.ds.Errorf(pos, "bad-value", "list whole numbers for an integer column", "%v is not a whole number", v)
					return "", false
				}
				out = append(out, strconv.FormatInt(int64(n), 10))
			default:
				b.ds.Errorf(pos, "bad-value", "list numbers for a numeric column", "%q is not a number", fmt.Sprint(v))
				return "", false
			}
		case Double:
			switch n := v.(type) {
			case int64:
				out = append(out, strconv.FormatInt(n, 10)+".0")
			case float64:
				out = append(out, strconv.FormatFloat(n, 'g', -1, 64))
				if !strings.ContainsAny(out[len(out)-1], ".eE") {
					out[len(out)-1] += ".0"
				}
			default:
				b.ds.Errorf(pos, "bad-value", "list numbers for a numeric column", "%q is not a number", fmt.Sprint(v))
				return "", false
			}
		case Bool:
			bv, ok := v.(bool)
			if !ok {
				b.ds.Errorf(pos, "bad-value", "list true or false", "%q is not a boolean", fmt.Sprint(v))
				return "", false
			}
			out = append(out, strconv.FormatBool(bv))
		default:
			b.ds.Errorf(pos, "unsupported-metric", "check this column with a CEL rule instead", "value lists are not supported for column %q of this type", col.Name)
			return "", false
		}
	}
	return "[" + strings.Join(out, ", ") + "]", true
}

// threshold turns the operator of a per-row metric into the most failing rows a rule
// may have: mustBe 0, mustBeLessThan and mustBeLessOrEqualTo bound failing rows from
// above; other operators do not make sense for counts of bad rows.
func (b *builder) threshold(q *contract.Quality, pos diag.Pos, percent bool) (*Threshold, bool) {
	switch {
	case q.MustBe != nil:
		if *q.MustBe != 0 {
			break
		}
		return nil, true
	case q.MustBeLessOrEqualTo != nil:
		return &Threshold{Max: *q.MustBeLessOrEqualTo, Percent: percent}, true
	case q.MustBeLessThan != nil:
		// Fewer than m bad rows is at most m-1 rows; for a percentage, at most the
		// largest number below m.
		m := *q.MustBeLessThan
		if percent {
			return &Threshold{Max: math.Nextafter(m, math.Inf(-1)), Percent: true}, true
		}
		return &Threshold{Max: math.Ceil(m) - 1}, true
	case q.MustBeGreaterThan == nil && q.MustBeGreaterOrEqualTo == nil && q.MustBeBetween == nil && q.MustNotBe == nil && q.MustNotBeBetween == nil:
		return nil, true // no operator: no bad rows allowed
	}
	b.ds.Errorf(pos, "unsupported-operator", "bound the bad rows with mustBe: 0, mustBeLessThan or mustBeLessOrEqualTo (unit: rows or percent)",
		"%s counts bad rows and can only be bounded from above", q.Metric)
	return nil, false
}

// compare renders `value <operator> operand` for the quality's operator.
func (b *builder) compare(q *contract.Quality, value string, pos diag.Pos, float bool) (string, bool) {
	num := func(f float64) string {
		if !float && f == float64(int64(f)) {
			return strconv.FormatInt(int64(f), 10)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s
	}
	switch {
	case q.MustBe != nil:
		return value + " == " + num(*q.MustBe), true
	case q.MustNotBe != nil:
		return value + " != " + num(*q.MustNotBe), true
	case q.MustBeGreaterThan != nil:
		return value + " > " + num(*q.MustBeGreaterThan), true
	case q.MustBeGreaterOrEqualTo != nil:
		return value + " >= " + num(*q.MustBeGreaterOrEqualTo), true
	case q.MustBeLessThan != nil:
		return value + " < " + num(*q.MustBeLessThan), true
	case q.MustBeLessOrEqualTo != nil:
		return value + " <= " + num(*q.MustBeLessOrEqualTo), true
	case len(q.MustBeBetween) == 2:
		return fmt.Sprintf("%s >= %s && %s <= %s", value, num(q.MustBeBetween[0]), value, num(q.MustBeBetween[1])), true
	case len(q.MustNotBeBetween) == 2:
		return fmt.Sprintf("%s < %s || %s > %s", value, num(q.MustNotBeBetween[0]), value, num(q.MustNotBeBetween[1])), true
	}
	b.ds.Errorf(pos, "missing-operator", "add mustBe, mustBeGreaterThan, mustBeLessThan, mustBeBetween or another ODCS operator",
		"metric %s has no operator to compare against", q.Metric)
	return "", false
}
