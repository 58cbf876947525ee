package openlineage

import (
	"strings"
	"unicode"

	"github.com/meshflow/meshflow/internal/refresh"
)

// ColumnLineage maps output columns to the input columns the transform SQL
// names for them, best effort: only a plain SELECT … FROM (no WITH, no
// UNION) is read. An output column that is an input column, renamed or not, is
// DIRECT/IDENTITY; one computed from input columns is DIRECT/TRANSFORMATION (or
// DIRECT/AGGREGATION under an aggregate function); columns named in WHERE,
// GROUP BY, HAVING or JOIN … ON are INDIRECT to every output column. An
// unqualified column is attributed only when the query reads one input; a
// qualified one when the qualifier is an input's name. nil when nothing maps.
func ColumnLineage(sql string, columns []refresh.Column, datasets []InputDataset, staged []refresh.StagedInput) *ColumnLineageDatasetFacet {
	if len(columns) == 0 || len(datasets) != len(staged) {
		return nil
	}
	toks := tokenize(sql)
	if len(toks) == 0 || !strings.EqualFold(toks[0], "select") {
		return nil
	}
	byName := map[string]InputDataset{}
	for i, s := range staged {
		byName[strings.ToLower(s.Name)] = datasets[i]
	}
	// Split the select list at top-level commas, up to the top-level FROM.
	var items [][]string
	var cur []string
	depth, i := 0, 1
	if i < len(toks) && strings.EqualFold(toks[i], "distinct") {
		i++
	}
	for ; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t == "(":
			depth++
		case t == ")":
			depth--
		}
		if depth == 0 && strings.EqualFold(t, "from") {
			break
		}
		if depth == 0 && t == "," {
			items = append(items, cur)
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	items = append(items, cur)
	if i >= len(toks) {
		return nil
	}
	rest := toks[i+1:]
	// The tables read: identifiers after FROM and JOIN, with their aliases.
	alias := map[string]string{}
	var tables []string
	for j := 0; j < len(rest); j++ {
		k := j
		if j > 0 {
			if !strings.EqualFold(rest[j], "join") && !strings.EqualFold(rest[j], "from") {
				continue
			}
			k = j + 1
		}
		{
			if k >= len(rest) || !isIdent(rest[k]) {
				continue
			}
			name := strings.ToLower(rest[k])
			if _, ok := byName[name]; !ok {
				continue
			}
			tables = append(tables, name)
			alias[name] = name
			if k+1 < len(rest) && strings.EqualFold(rest[k+1], "as") && k+2 < len(rest) {
				alias[strings.ToLower(rest[k+2])] = name
			} else if k+1 < len(rest) && isIdent(rest[k+1]) && !keyword(rest[k+1]) {
				alias[strings.ToLower(rest[k+1])] = name
			}
		}
	}
	resolve := func(qual, col string) (InputDataset, bool) {
		if qual != "" {
			t, ok := alias[strings.ToLower(qual)]
			if !ok {
				return InputDataset{}, false
			}
			return byName[t], true
		}
		if len(tables) == 1 {
			return byName[tables[0]], true
		}
		return InputDataset{}, false
	}
	refs := func(ts []string, tr Transformation) []InputField {
		var out []InputField
		seen := map[string]bool{}
		for j := 0; j < len(ts); j++ {
			t := ts[j]
			if !isIdent(t) || keyword(t) || (j+1 < len(ts) && ts[j+1] == "(") {
				continue
			}
			qual, col := "", t
			if j+2 < len(ts) && ts[j+1] == "." && isIdent(ts[j+2]) {
				qual, col = t, ts[j+2]
				j += 2
			}
			d, ok := resolve(qual, col)
			if !ok || seen[d.Namespace+d.Name+col] {
				continue
			}
			seen[d.Namespace+d.Name+col] = true
			out = append(out, InputField{Namespace: d.Namespace, Name: d.Name, Field: unquote(col), Transformations: []Transformation{tr}})
		}
		return out
	}
	outCols := map[string]bool{}
	for _, c := range columns {
		outCols[c.Name] = true
	}
	fields := map[string]ColumnLineageField{}
	for _, it := range items {
		if len(it) == 0 {
			continue
		}
		expr, name := it, ""
		if n := len(it); n >= 3 && strings.EqualFold(it[n-2], "as") {
			expr, name = it[:n-2], unquote(it[n-1])
		} else if n >= 2 && isIdent(it[n-1]) && !keyword(it[n-1]) && it[n-2] != "." && it[n-2] != "(" {
			expr, name = it[:n-1], unquote(it[n-1])
		} else {
			name = unquote(it[len(it)-1])
		}
		if !outCols[name] {
			continue
		}
		tr := Transformation{Type: "DIRECT", Subtype: "TRANSFORMATION"}
		if len(expr) == 1 || (len(expr) == 3 && expr[1] == ".") {
			tr.Subtype = "IDENTITY"
		} else if len(expr) > 1 && expr[1] == "(" && aggregate(expr[0]) {
			tr.Subtype = "AGGREGATION"
		}
		if in := refs(expr, tr); len(in) > 0 {
			fields[name] = ColumnLineageField{InputFields: in}
		}
	}
	// Columns that filter, join or group the rows shape every output column.
	var indirect []string
	in := false
	for _, t := range rest {
		switch strings.ToLower(t) {
		case "where", "on", "having", "by":
			in = true
			continue
		case "join", "order", "limit", "qualify", "window":
			in = false
		}
		if in {
			indirect = append(indirect, t)
		}
	}
	if ind := refs(indirect, Transformation{Type: "INDIRECT", Subtype: "FILTER"}); len(ind) > 0 {
		for name, f := range fields {
			f.InputFields = append(f.InputFields, ind...)
			fields[name] = f
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &ColumnLineageDatasetFacet{BaseFacet: base(columnLineageFacetURL), Fields: fields}
}

// tokenize splits SQL into identifiers, quoted identifiers, numbers, strings
// and single punctuation characters; comments are dropped.
func tokenize(sql string) []string {
	var out []string
	r := []rune(sql)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '-' && i+1 < len(r) && r[i+1] == '-':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			j := strings.Index(string(r[i+2:]), "*/")
			if j < 0 {
				return out
			}
			i += 2 + len([]rune(string(r[i+2:])[:j])) + 2
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(r) && r[j] != c {
				j++
			}
			out = append(out, string(r[i:min(j+1, len(r))]))
			i = j + 1
		case unicode.IsLetter(c) || c == '_' || unicode.IsDigit(c):
			j := i
			for j < len(r) && (unicode.IsLetter(r[j]) || unicode.IsDigit(r[j]) || r[j] == '_') {
				j++
			}
			out = append(out, string(r[i:j]))
			i = j
		default:
			out = append(out, string(c))
			i++
		}
	}
	return out
}

func isIdent(t string) bool {
	if t == "" {
		return false
	}
	if t[0] == '"' {
		return true
	}
	c := rune(t[0])
	return unicode.IsLetter(c) || c == '_'
}

func unquote(t string) string {
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		return t[1 : len(t)-1]
	}
	return t
}

var keywords = map[string]bool{"select": true, "from": true, "where": true, "group": true, "by": true, "order": true,
	"having": true, "join": true, "left": true, "right": true, "inner": true, "outer": true, "full": true, "cross": true,
	"on": true, "using": true, "as": true, "and": true, "or": true, "not": true, "null": true, "is": true, "in": true,
	"case": true, "when": true, "then": true, "else": true, "end": true, "distinct": true, "limit": true, "all": true,
	"true": true, "false": true, "between": true, "like": true, "ilike": true, "cast": true, "interval": true,
	"asc": true, "desc": true, "natural": true, "qualify": true, "window": true, "over": true, "partition": true,
	"filter": true, "exists": true, "union": true, "except": true, "intersect": true, "with": true}

func keyword(t string) bool { return t[0] != '"' && keywords[strings.ToLower(t)] }

func aggregate(fn string) bool {
	switch strings.ToLower(fn) {
	case "sum", "count", "avg", "min", "max", "any_value", "first", "last", "median", "string_agg", "list", "array_agg", "stddev", "variance":
		return true
	}
	return false
}
