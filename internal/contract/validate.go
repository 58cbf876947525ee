package contract

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
)

// validate checks the contract node against the ODCS JSON Schema and reports every
// problem to ds, positioned at the YAML node it is about.
// A document the schema accepted before is not checked again (see
// RememberAccepted).
func validate(doc *yamlfile.Doc, node *yaml.Node, value any, ds *diag.List) {
	cache, key := accepted.Load(), ""
	if cache != nil {
		if key = acceptedKey(value); key != "" {
			if _, found := cache.Get(key); found {
				return
			}
		}
	}
	s, err := odcsSchema()
	if err != nil {
		ds.Errorf(doc.Pos(node), "schema-internal", "this is a bug in meshflow; please report it", "cannot check the contract: %v", err)
		return
	}
	err = s.sch.Validate(value)
	if err == nil {
		if key != "" {
			cache.Put(key, true)
		}
		return
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		ds.Errorf(doc.Pos(node), "schema-internal", "this is a bug in meshflow; please report it", "cannot check the contract: %v", err)
		return
	}
	r := reporter{s: s, doc: doc, root: node}
	for _, p := range r.filter(collect(verr)) {
		r.report(p)
	}
	for _, d := range r.out {
		ds.Add(d)
	}
}

// problem is one leaf of the validation error tree, or a summary of the failed
// alternatives of a oneOf or anyOf.
type problem struct {
	loc  []string // instance location, relative to the contract
	kind jsonschema.ErrorKind
	url  string // absolute schema location of the failed keyword's schema

	unknownKey string   // an unknown key at loc (loc is the mapping holding it)
	oneOfKeys  []string // none of the alternatives was given: one of these keys is missing
	oneOfTypes []string // the value has none of these types
}

// collect flattens the error tree to its leaf causes. For a oneOf or anyOf, the
// alternatives that clearly do not apply (the value has another type, or the key
// that selects them is absent) are left out when another alternative came close;
// when none did, they are summarised in one problem.
func collect(e *jsonschema.ValidationError) []problem {
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		if k.Subschemas == nil {
			return alternatives(e)
		}
	case *kind.AnyOf:
		return alternatives(e)
	case *kind.AdditionalProperties:
		var out []problem
		for _, name := range k.Properties {
			out = append(out, problem{loc: e.InstanceLocation, kind: k, url: e.SchemaURL, unknownKey: name})
		}
		return out
	case *kind.FalseSchema:
		if base, ok := strings.CutSuffix(e.SchemaURL, "/unevaluatedProperties"); ok && len(e.InstanceLocation) > 0 {
			n := len(e.InstanceLocation)
			return []problem{{loc: e.InstanceLocation[:n-1], kind: k, url: base, unknownKey: e.InstanceLocation[n-1]}}
		}
	}
	if len(e.Causes) == 0 {
		return []problem{{loc: e.InstanceLocation, kind: e.ErrorKind, url: e.SchemaURL}}
	}
	var out []problem
	for _, c := range e.Causes {
		out = append(out, collect(c)...)
	}
	return out
}

func alternatives(e *jsonschema.ValidationError) []problem {
	var kept []problem
	var missing, types []string
	for _, c := range e.Causes {
		ps := collect(c)
		switch {
		case allAt(ps, e.InstanceLocation, func(p problem) bool { _, ok := p.kind.(*kind.Type); return ok || p.oneOfTypes != nil }):
			for _, p := range ps {
				if t, ok := p.kind.(*kind.Type); ok {
					types = append(types, t.Want...)
				}
				types = append(types, p.oneOfTypes...)
			}
		case allAt(ps, e.InstanceLocation, func(p problem) bool { _, ok := p.kind.(*kind.Required); return ok || p.oneOfKeys != nil }):
			for _, p := range ps {
				if r, ok := p.kind.(*kind.Required); ok {
					missing = append(missing, r.Missing...)
				}
				missing = append(missing, p.oneOfKeys...)
			}
		default:
			kept = append(kept, ps...)
		}
	}
	switch {
	case len(kept) > 0:
		return kept
	case len(missing) > 0:
		return []problem{{loc: e.InstanceLocation, kind: e.ErrorKind, url: e.SchemaURL, oneOfKeys: uniq(missing)}}
	default:
		return []problem{{loc: e.InstanceLocation, kind: e.ErrorKind, url: e.SchemaURL, oneOfTypes: uniq(types)}}
	}
}

func allAt(ps []problem, loc []string, pred func(problem) bool) bool {
	for _, p := range ps {
		if p.unknownKey != "" || !slices.Equal(p.loc, loc) || !pred(p) {
			return false
		}
	}
	return len(ps) > 0
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

type reporter struct {
	s    *compiledSchema
	doc  *yamlfile.Doc
	root *yaml.Node
	out  []diag.Diagnostic
}

// filter drops the unknown-key problems that only follow from another problem.
// Under unevaluatedProperties, a key whose own check failed, or whose conditional
// branch (if/then, oneOf) failed, is reported as unevaluated too; the real problem
// is reported on its own.
func (r *reporter) filter(ps []problem) []problem {
	var real [][]string
	for _, p := range ps {
		if p.unknownKey == "" {
			real = append(real, p.loc)
		}
	}
	var out []problem
	for _, p := range ps {
		if p.unknownKey != "" {
			k := r.s.declaredKeys(r.s.at(p.url))
			if k.always[p.unknownKey] {
				continue
			}
			if k.sometimes[p.unknownKey] && slices.ContainsFunc(real, func(l []string) bool { return hasPrefix(l, p.loc) }) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

func hasPrefix(s, prefix []string) bool {
	return len(s) >= len(prefix) && slices.Equal(s[:len(prefix)], prefix)
}

func (r *reporter) add(pos diag.Pos, code, hint, format string, args ...any) {
	if hint == "" {
		// Every problem says what to do, even when the schema says no more.
		hint = "change the value as the message says: the ODCS v3.1.0 JSON Schema requires it"
	}
	d := diag.Diagnostic{Pos: pos, Severity: diag.Error, Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
	if !slices.Contains(r.out, d) {
		r.out = append(r.out, d)
	}
}

// conditionalHints explain keys that ODCS allows only in some cases.
var conditionalHints = map[string]string{
	"items":          `"items" is allowed only when logicalType is array`,
	"properties":     `"properties" is allowed only when logicalType is object`,
	"engine":         `"engine" is allowed only in rules with type: custom`,
	"implementation": `"implementation" is allowed only in rules with type: custom`,
	"query":          `"query" is allowed only in rules with type: sql`,
	"metric":         `"metric" is allowed only in library rules (type: library)`,
	"rule":           `"rule" is allowed only in library rules (type: library); write "metric" instead`,
	"arguments":      `"arguments" is allowed only in library rules (type: library)`,
}

func (r *reporter) report(p problem) {
	node, _ := nodeAt(r.root, p.loc)
	where := ""
	if len(p.loc) > 0 {
		where = " in " + describePath(p.loc)
	}
	switch {
	case p.unknownKey != "":
		_, key := nodeAt(r.root, append(slices.Clone(p.loc), p.unknownKey))
		pos := r.doc.Pos(node)
		if key != nil {
			pos = r.doc.Pos(key)
		}
		k := r.s.declaredKeys(r.s.at(p.url))
		hint := conditionalHints[p.unknownKey]
		if hint == "" || !k.sometimes[p.unknownKey] {
			all := k.all()
			hint = "allowed keys here: " + strings.Join(all, ", ")
			if s := suggest(p.unknownKey, all); s != "" {
				hint = fmt.Sprintf("did you mean %q? %s", s, hint)
			}
		}
		if _, ok := p.kind.(*kind.AdditionalProperties); ok || !k.sometimes[p.unknownKey] {
			r.add(pos, "unknown-key", hint, "unknown key %q%s", p.unknownKey, where)
		} else {
			r.add(pos, "unknown-key", hint, "key %q is not allowed here%s", p.unknownKey, where)
		}
		return
	case p.oneOfKeys != nil:
		r.add(r.doc.Pos(node), "missing-key", fmt.Sprintf("add exactly one of them, such as %q", p.oneOfKeys[0]+": …"),
			"missing one of the keys %s%s", strings.Join(p.oneOfKeys, ", "), where)
		return
	case p.oneOfTypes != nil:
		r.add(r.doc.Pos(node), "wrong-type", "write "+typeNames(p.oneOfTypes)+" here",
			"%s must be %s, found %s", subject(p.loc), typeNames(p.oneOfTypes), describe(node))
		return
	}
	pos := r.doc.Pos(node)
	sub := r.s.at(p.url)
	switch k := p.kind.(type) {
	case *kind.Required:
		for _, name := range k.Missing {
			example := name + ": …"
			if prop := r.s.property(sub, name); prop != nil {
				if def, ok := prop["default"]; ok {
					example = fmt.Sprintf("%s: %v", name, def)
				}
			}
			r.add(pos, "missing-key", fmt.Sprintf("add %q", example), "missing required key %q%s", name, where)
		}
	case *kind.Type:
		r.add(pos, "wrong-type", "write "+typeNames(k.Want)+" here", "%s must be %s, found %s", subject(p.loc), typeNames(k.Want), describe(node))
	case *kind.Enum:
		var want []string
		for _, w := range k.Want {
			want = append(want, fmt.Sprint(w))
		}
		hint := "write one of the allowed values"
		if len(want) == 1 {
			hint = "write " + want[0] + " here"
		}
		if s := suggest(fmt.Sprint(k.Got), want); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		if len(want) == 1 {
			r.add(pos, "bad-value", hint, "%s must be %s, found %s", subject(p.loc), want[0], describe(node))
		} else {
			r.add(pos, "bad-value", hint, "%s must be one of %s, found %s", subject(p.loc), strings.Join(want, ", "), describe(node))
		}
	case *kind.Const:
		r.add(pos, "bad-value", fmt.Sprintf("write %v here", k.Want), "%s must be %v, found %s", subject(p.loc), k.Want, describe(node))
	case *kind.Pattern:
		r.add(pos, "bad-value", description(sub), "%s must match the pattern %s, found %s", subject(p.loc), k.Want, describe(node))
	case *kind.OneOf: // more than one alternative matched
		var names []string
		alts, _ := sub["oneOf"].([]any)
		for _, i := range k.Subschemas {
			if i < len(alts) {
				alt, _ := alts[i].(map[string]any)
				req, _ := alt["required"].([]any)
				for _, n := range req {
					names = append(names, fmt.Sprint(n))
				}
			}
		}
		if len(names) >= 2 {
			if _, kn := nodeAt(r.root, append(slices.Clone(p.loc), names[len(names)-1])); kn != nil {
				pos = r.doc.Pos(kn)
			}
			r.add(pos, "conflicting-keys", "keep only one of them", "keys %s cannot be used together%s", quoteAll(names), where)
		} else {
			r.add(pos, "bad-value", "", "%s matches more than one of the forms ODCS allows here", subject(p.loc))
		}
	case *kind.Not:
		var names []string
		if not, ok := sub["not"].(map[string]any); ok {
			req, _ := not["required"].([]any)
			for _, n := range req {
				names = append(names, fmt.Sprint(n))
			}
		}
		if len(names) == 1 {
			if _, kn := nodeAt(r.root, append(slices.Clone(p.loc), names[0])); kn != nil {
				pos = r.doc.Pos(kn)
			}
			r.add(pos, "unknown-key", description(sub), "key %q is not allowed here%s", names[0], where)
		} else {
			r.add(pos, "bad-value", description(sub), "%s has a form ODCS does not allow here", subject(p.loc))
		}
	case *kind.MinItems:
		r.add(pos, "bad-value", "", "%s must have at least %d %s, found %d", subject(p.loc), k.Want, plural(k.Want, "item"), k.Got)
	case *kind.MaxItems:
		r.add(pos, "bad-value", "", "%s must have at most %d %s, found %d", subject(p.loc), k.Want, plural(k.Want, "item"), k.Got)
	case *kind.UniqueItems:
		r.add(pos, "bad-value", "remove the duplicate", "%s must not repeat a value, but items %d and %d are equal", subject(p.loc), k.Duplicates[0], k.Duplicates[1])
	case *kind.MinLength:
		r.add(pos, "bad-value", "", "%s must be at least %d characters long, found %d", subject(p.loc), k.Want, k.Got)
	case *kind.MaxLength:
		r.add(pos, "bad-value", "", "%s must be at most %d characters long, found %d", subject(p.loc), k.Want, k.Got)
	case *kind.MinProperties:
		r.add(pos, "bad-value", "", "%s must have at least %d %s, found %d", subject(p.loc), k.Want, plural(k.Want, "key"), k.Got)
	case *kind.MaxProperties:
		r.add(pos, "bad-value", "", "%s must have at most %d %s, found %d", subject(p.loc), k.Want, plural(k.Want, "key"), k.Got)
	case *kind.Minimum:
		r.add(pos, "bad-value", "", "%s must be at least %s, found %s", subject(p.loc), ratString(k.Want), describe(node))
	case *kind.Maximum:
		r.add(pos, "bad-value", "", "%s must be at most %s, found %s", subject(p.loc), ratString(k.Want), describe(node))
	case *kind.ExclusiveMinimum:
		r.add(pos, "bad-value", "", "%s must be greater than %s, found %s", subject(p.loc), ratString(k.Want), describe(node))
	case *kind.ExclusiveMaximum:
		r.add(pos, "bad-value", "", "%s must be less than %s, found %s", subject(p.loc), ratString(k.Want), describe(node))
	case *kind.MultipleOf:
		r.add(pos, "bad-value", "", "%s must be a multiple of %s, found %s", subject(p.loc), ratString(k.Want), describe(node))
	case *kind.Format:
		r.add(pos, "bad-value", description(sub), "%s must be a valid %s, found %s", subject(p.loc), k.Want, describe(node))
	case *kind.FalseSchema:
		r.add(pos, "unknown-key", "remove it, or move it to where ODCS allows it", "%s is not allowed here", subject(p.loc))
	default:
		// Keywords the ODCS schema does not use; say something true and keep the
		// library's wording for the details.
		keyword := "?"
		if p.kind != nil {
			keyword = strings.Join(p.kind.KeywordPath(), "/")
		}
		r.add(pos, "bad-value", "", "%s does not meet the ODCS schema (keyword %s)", subject(p.loc), keyword)
	}
}

// nodeAt walks an instance location from n and returns the deepest node reached
// and, when the whole location was found and ends in a mapping key, that key's node.
func nodeAt(n *yaml.Node, loc []string) (val, key *yaml.Node) {
	for _, tok := range loc {
		if r := resolve(n); r != nil {
			n = r
		}
		key = nil
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 { // the last duplicate wins, as in Value
				if n.Content[i].Value == tok {
					key, next = n.Content[i], n.Content[i+1]
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next == nil {
			return n, nil
		}
		n = next
	}
	return n, key
}

// describePath renders an instance location as schema[0].properties[2].
func describePath(loc []string) string {
	var b strings.Builder
	for i, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil && i > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// subject names the value at loc by its key and any list indexes after it, such
// as "required" or "tags[1]".
func subject(loc []string) string {
	i := len(loc) - 1
	for i >= 0 {
		if _, err := strconv.Atoi(loc[i]); err != nil {
			break
		}
		i--
	}
	if i < 0 {
		if len(loc) == 0 {
			return "the contract"
		}
		return strconv.Quote(describePath(loc))
	}
	return strconv.Quote(describePath(loc[i:]))
}

func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	return yamlfile.Describe(resolve(n))
}

func typeNames(types []string) string {
	var names []string
	for _, t := range types {
		switch t {
		case "boolean":
			t = "true or false"
		case "string":
			t = "a string"
		case "number":
			t = "a number"
		case "integer":
			t = "a whole number"
		case "object":
			t = "a mapping"
		case "array":
			t = "a list"
		}
		if !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	return strings.Join(names, " or ")
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 2 {
		return q[0] + " and " + q[1]
	}
	return strings.Join(q, ", ")
}

func description(sub map[string]any) string {
	s, _ := sub["description"].(string)
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// suggest returns the candidate s was probably meant to be: the closest by edit
// distance (yamlfile.Closest), or one that differs by two swapped neighbouring
// letters, the commonest typo ("nmae").
func suggest(s string, candidates []string) string {
	if c := yamlfile.Closest(s, candidates); c != "" {
		return c
	}
	r := []rune(s)
	for i := 0; i+1 < len(r); i++ {
		r[i], r[i+1] = r[i+1], r[i]
		if c := string(r); slices.Contains(candidates, c) {
			return c
		}
		r[i], r[i+1] = r[i+1], r[i]
	}
	return ""
}
