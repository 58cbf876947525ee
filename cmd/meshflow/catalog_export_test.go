package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.yaml.in/yaml/v3"
)

// TestCatalogExportODPS: `meshflow catalog export --format odps` prints every
// product of the example mesh as a document that follows the official ODPS
// schema, as YAML by default and as JSON with --json, and fails for a product
// that was never published.
func TestCatalogExportODPS(t *testing.T) {
	set, ds := spec.Load(exampleMesh)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	published := publishtest.PublishMesh(t, st, set)
	for ref, m := range published {
		for _, format := range []string{"yaml", "json"} {
			args := []string{"catalog", "export", ref, "--format", "odps", "--store", dir, "--mesh", exampleMesh, "--public-url", "https://meshflow.example.com"}
			if format == "json" {
				args = append(args, "--json")
			}
			var out, errOut bytes.Buffer
			if err := run(t.Context(), args, &out, &errOut); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, errOut.String())
			}
			if err := odps.Validate(out.Bytes()); err != nil {
				t.Errorf("%s as %s: %v\n%s", ref, format, err, out.String())
			}
			var doc odps.Product
			if format == "json" {
				err = json.Unmarshal(out.Bytes(), &doc)
			} else {
				if json.Valid(out.Bytes()) {
					t.Errorf("%s: the default output is JSON, want YAML", ref)
				}
				err = yaml.Unmarshal(out.Bytes(), &doc)
			}
			if err != nil {
				t.Fatalf("%s as %s does not parse: %v", ref, format, err)
			}
			if doc.Domain+"/"+doc.Name != ref || doc.Version != m.Version || doc.ID != odps.ProductID(ref) || doc.Team == nil || len(doc.ManagementPorts) != 3 {
				t.Errorf("%s as %s: %+v", ref, format, doc)
			}
		}
	}

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"catalog", "export", "--store", dir, "--mesh", exampleMesh, "finance/nothing"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "finance/nothing has no published version") {
		t.Errorf("export of an unknown product: %v", err)
	}
	if err := run(t.Context(), []string{"catalog", "export", "--store", dir, "--format", "dcat", "finance/fx-rates"}, &out, &errOut); err == nil {
		t.Error("--format dcat succeeded")
	}
	if err := run(t.Context(), []string{"catalog", "export", "--store", dir, "--mesh", t.TempDir(), "finance/fx-rates"}, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "no readable") {
		t.Errorf("--mesh without mesh.yaml: %v", err)
	}
}
