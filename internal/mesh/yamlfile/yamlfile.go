package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"go.yaml.in/yaml/v3"
)

// Doc is one parsed YAML document and the file it came from.
type Doc struct {
	File string
	// Root is the document's top-level node (a mapping for every meshflow file).
	Root *yaml.Node
	// Source is the file's text, used to place positions inside block scalars.
	Source []byte
}

// Parse reads a single YAML document. Syntax errors, an empty file and a file with
// more than one document are reported to ds, and ok is false.
func Parse(file string, data []byte, ds *diag.List) (doc *Doc, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			ds.Errorf(diag.Pos{File: file, Line: 1, Col: 1}, "empty-file", "write the document, or delete the file", "the file is empty")
			return nil, false
		}
		ds.Add(syntaxDiagnostic(file, err))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		ds.Errorf(diag.Pos{File: file, Line: extra.Line, Col: extra.Column}, "multiple-documents",
			"put each document in a file of its own", "the file holds more than one YAML document")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		ds.Add(syntaxDiagnostic(file, err))
		return nil, false
	}
	n := &root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return &Doc{File: file, Root: n, Source: data}, true
}

// syntaxDiagnostic turns a yaml.v3 error ("yaml: line 3: mapping values are not
// allowed in this context") into a positioned diagnostic.
func syntaxDiagnostic(file string, err error) diag.Diagnostic {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	hint := "check indentation and quoting on this line and the one before it"
	if strings.HasPrefix(msg, "did not find expected ',' or") {
		// yaml.v3 reports where the unclosed flow collection starts, counting lines
		// from 0 for this error.
		line++
		hint = "a { or [ opened on this line is not closed"
	}
	return diag.Diagnostic{Pos: diag.Pos{File: file, Line: line, Col: 1}, Severity: diag.Error, Code: "yaml-syntax",
		Message: "YAML syntax error: " + msg, Hint: hint}
}

// Pos returns the position of a node of this document.
func (d *Doc) Pos(n *yaml.Node) diag.Pos {
	if n == nil {
		return diag.Pos{File: d.File}
	}
	return diag.Pos{File: d.File, Line: n.Line, Col: n.Column}
}

// At walks the document by mapping keys (strings) and sequence indexes (ints) and
// returns the node found, or nil.
func (d *Doc) At(path ...any) *yaml.Node {
	n := d.Root
	for _, p := range path {
		n = child(n, p)
		if n == nil {
			return nil
		}
	}
	return n
}

// PosAt returns the position of the node at path, or of its nearest existing
// ancestor when the path does not exist (a missing key is reported on its parent).
func (d *Doc) PosAt(path ...any) diag.Pos {
	n := d.Root
	for _, p := range path {
		c := child(n, p)
		if c == nil {
			break
		}
		n = c
	}
	return d.Pos(n)
}

// KeyPosAt returns the position of the key of the last path element, which reads
// better than the value's position for problems about the key itself.
func (d *Doc) KeyPosAt(path ...any) diag.Pos {
	if len(path) == 0 {
		return d.Pos(d.Root)
	}
	parent := d.At(path[:len(path)-1]...)
	if k, ok := path[len(path)-1].(string); ok && parent != nil && parent.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if parent.Content[i].Value == k {
				return d.Pos(parent.Content[i])
			}
		}
	}
	return d.PosAt(path...)
}

func child(n *yaml.Node, p any) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch p := p.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				return n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
			return n.Content[p]
		}
	}
	return nil
}

// Describe names the kind of a node for error messages ("a mapping", "the string
// \"abc\"").
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return strconv.Quote(n.Value)
		default:
			return n.Value
		}
	}
	return "an empty document"
}

// Value converts a node to the generic value encoding/json would produce
// (map[string]any, []any, string, float64/int64, bool, nil), for JSON Schema
// validation and for fields the product keeps but does not interpret.
func Value(n *yaml.Node) any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return Value(n.Content[0])
		}
		return nil
	case yaml.AliasNode:
		return Value(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = Value(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, Value(c))
		}
		return s
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return b
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
		var v any
		if err := n.Decode(&v); err == nil {
			return v
		}
		return n.Value
	case "!!float":
		var f float64
		if err := n.Decode(&f); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
		return n.Value
	case "!!timestamp":
		return n.Value
	}
	return n.Value
}

// Decode decodes node strictly into out, which must be a pointer. Every problem
// (unknown key, wrong type, missing required key) is added to ds with its position;
// decoding goes on past problems so that all of them are reported at once.
//
// Struct fields are named by their `yaml` tag; a field tagged `required:"true"`
// must be present and not null. Fields of type *yaml.Node receive the raw node, and
// fields of type any receive Value(node). time.Duration reads Go duration strings
// such as "48h".
func Decode(doc *Doc, node *yaml.Node, out any, ds *diag.List) {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("yamlfile.Decode: out must be a non-nil pointer") // programming error, not user input
	}
	d := decoder{doc: doc, ds: ds}
	d.value(node, rv.Elem(), "")
}

type decoder struct {
	doc *Doc
	ds  *diag.List
}

var (
	nodeType     = reflect.TypeFor[*yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	anyType      = reflect.TypeFor[any]()
)

func (d *decoder) typeErr(n *yaml.Node, where, want string) {
	at := ""
	if where != "" {
		at = " for " + strconv.Quote(where)
	}
	d.ds.Errorf(d.doc.Pos(n), "wrong-type", "write "+want+" here",
		"expected %s%s, found %s", want, at, Describe(n))
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, where string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Type() == nodeType:
		v.Set(reflect.ValueOf(n))
		return
	case v.Type() == anyType:
		if val := Value(n); val != nil {
			v.Set(reflect.ValueOf(val))
		}
		return
	case v.Type() == durationType:
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
			d.typeErr(n, where, `a duration such as "48h" or "30m"`)
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			d.ds.Errorf(d.doc.Pos(n), "bad-duration", `write a duration such as "48h", "90m" or "1h30m"`,
				"%q is not a duration", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // leave the zero value; required-ness is checked by the parent
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.value(n, p.Elem(), where)
		v.Set(p)
	case reflect.Struct:
		d.structValue(n, v, where)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.typeErr(n, where, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, s.Index(i), where)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
			d.typeErr(n, where, "a mapping")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			e := reflect.New(v.Type().Elem()).Elem()
			d.value(n.Content[i+1], e, n.Content[i].Value)
			m.SetMapIndex(reflect.ValueOf(n.Content[i].Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeErr(n, where, "a string")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.typeErr(n, where, "true or false")
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			d.typeErr(n, where, "a whole number")
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			d.typeErr(n, where, "a number")
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("yamlfile.Decode: unsupported field type %s", v.Type())) // programming error
	}
}

// field describes one struct field as the decoder sees it.
type field struct {
	name     string
	index    int
	required bool
}

func fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs = append(fs, field{name: name, index: i, required: f.Tag.Get("required") == "true"})
	}
	return fs
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, where string) {
	if n.Kind != yaml.MappingNode {
		d.typeErr(n, where, "a mapping")
		return
	}
	fs := fields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			d.ds.Errorf(d.doc.Pos(k), "duplicate-key", "keep one of them", "key %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		idx := slices.IndexFunc(fs, func(f field) bool { return f.name == k.Value })
		if idx < 0 {
			names := make([]string, len(fs))
			for j, f := range fs {
				names[j] = f.name
			}
			hint := "allowed keys here: " + strings.Join(names, ", ")
			if s := Closest(k.Value, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? %s", s, hint)
			}
			d.ds.Errorf(d.doc.Pos(k), "unknown-key", hint, "unknown key %q", k.Value)
			continue
		}
		if fs[idx].required && val.Kind == yaml.ScalarNode && val.ShortTag() == "!!null" {
			d.ds.Errorf(d.doc.Pos(val), "missing-value", "give it a value", "%q must not be empty", k.Value)
			continue
		}
		d.value(val, v.Field(fs[idx].index), k.Value)
	}
	for _, f := range fs {
		if f.required && !seen[f.name] {
			in := ""
			if where != "" {
				in = fmt.Sprintf(" in %q", where)
			}
			d.ds.Errorf(d.doc.Pos(n), "missing-key", fmt.Sprintf("add %q", f.name+": …"),
				"missing required key %q%s", f.name, in)
		}
	}
}

// Closest returns the candidate nearest to s by edit distance when it is close
// enough to be a likely typo, and "" otherwise.
func Closest(s string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(s), strings.ToLower(c)); dist < bestD {
			best, bestD = c, dist
		}
	}
	if bestD <= max(1, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
