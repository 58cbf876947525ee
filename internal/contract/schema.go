package contract

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaJSON is the official ODCS v3.1.0 JSON Schema, unchanged, from
// https://github.com/bitol-io/open-data-contract-standard (Apache-2.0, see
// schema/LICENSE).
//
//go:embed schema/odcs-json-schema-v3.1.0.json
var schemaJSON []byte

// schemaURL names the embedded schema inside the compiler; nothing is fetched.
const schemaURL = "https://meshflow.dev/schema/odcs-json-schema-v3.1.0.json"

// odcsSchema returns the compiled schema and its raw form, which the error
// messages consult for allowed keys, defaults and descriptions. Both are built
// once, on first use.
var odcsSchema = sync.OnceValues(func() (*compiledSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("read the embedded ODCS schema: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(schemaJSON, &raw); err != nil {
		return nil, fmt.Errorf("read the embedded ODCS schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("add the embedded ODCS schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile the embedded ODCS schema: %w", err)
	}
	return &compiledSchema{sch: sch, raw: raw}, nil
})

type compiledSchema struct {
	sch *jsonschema.Schema
	raw map[string]any
}

// at returns the raw subschema that a schema URL such as
// "https://…/odcs.json#/$defs/SchemaProperty" points at, or nil.
func (s *compiledSchema) at(schemaURL string) map[string]any {
	_, frag, _ := strings.Cut(schemaURL, "#")
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	var cur any = s.raw
	for tok := range strings.SplitSeq(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch v := cur.(type) {
		case map[string]any:
			cur = v[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	m, _ := cur.(map[string]any)
	return m
}

// keys lists the property names a subschema declares: those that always apply
// (through properties, $ref and allOf) and those that apply only in some cases
// (through if/then/else, oneOf and anyOf).
type keys struct {
	always, sometimes map[string]bool
}

func (s *compiledSchema) declaredKeys(sub map[string]any) keys {
	k := keys{always: map[string]bool{}, sometimes: map[string]bool{}}
	seen := map[string]bool{}
	var walk func(m map[string]any, cond bool)
	walk = func(m map[string]any, cond bool) {
		if m == nil {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name := range props {
				if cond {
					k.sometimes[name] = true
				} else {
					k.always[name] = true
				}
			}
		}
		if ref, ok := m["$ref"].(string); ok && !seen[ref] {
			seen[ref] = true
			walk(s.at(ref), cond)
		}
		for _, kw := range []string{"allOf", "anyOf", "oneOf"} {
			list, _ := m[kw].([]any)
			for _, e := range list {
				sub, _ := e.(map[string]any)
				walk(sub, cond || kw != "allOf")
			}
		}
		for _, kw := range []string{"then", "else"} {
			sub, _ := m[kw].(map[string]any)
			walk(sub, true)
		}
	}
	walk(sub, false)
	for name := range k.always {
		delete(k.sometimes, name)
	}
	return k
}

// all returns every declared key, sorted.
func (k keys) all() []string {
	var out []string
	for name := range k.always {
		out = append(out, name)
	}
	for name := range k.sometimes {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// property returns the raw subschema of a named property of sub, looking through
// $ref and allOf, or nil.
func (s *compiledSchema) property(sub map[string]any, name string) map[string]any {
	seen := map[string]bool{}
	var find func(m map[string]any) map[string]any
	find = func(m map[string]any) map[string]any {
		if m == nil {
			return nil
		}
		if props, ok := m["properties"].(map[string]any); ok {
			if p, ok := props[name].(map[string]any); ok {
				return p
			}
		}
		if ref, ok := m["$ref"].(string); ok && !seen[ref] {
			seen[ref] = true
			if p := find(s.at(ref)); p != nil {
				return p
			}
		}
		list, _ := m["allOf"].([]any)
		for _, e := range list {
			sub, _ := e.(map[string]any)
			if p := find(sub); p != nil {
				return p
			}
		}
		return nil
	}
	return find(sub)
}
