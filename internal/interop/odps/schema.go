package odps

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// schemaJSON is the official ODPS v1.0.0 JSON Schema, unchanged, from
// https://github.com/bitol-io/open-data-product-standard (Apache-2.0, see
// schema/LICENSE).
//
//go:embed schema/odps-json-schema-v1.0.0.json
var schemaJSON []byte

// schemaURL names the embedded schema inside the compiler; nothing is fetched.
const schemaURL = "https://meshflow.dev/schema/odps-json-schema-v1.0.0.json"

// odpsSchema is the compiled schema, built on first use. Formats (uri,
// date-time, date) are asserted, not only annotated.
var odpsSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("read the embedded ODPS schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("add the embedded ODPS schema: %w", err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile the embedded ODPS schema: %w", err)
	}
	return sch, nil
})

// Validate checks an ODPS document, YAML or JSON, against the official ODPS
// v1.0.0 JSON Schema.
func Validate(doc []byte) error {
	sch, err := odpsSchema()
	if err != nil {
		return err
	}
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("read the ODPS document: %w", err)
	}
	// YAML's values become JSON's: the schema is checked on the document as a
	// JSON reader sees it.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("read the ODPS document: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("read the ODPS document: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("the document does not follow ODPS %s: %w", APIVersion, err)
	}
	return nil
}
