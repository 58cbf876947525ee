package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
)

const exampleMesh = "../../examples/mesh"

// brokenMesh copies the YAML files of the example mesh (not its data) to a
// temporary folder, applies the edits (old → new, each found exactly once in
// file) and returns the folder.
func brokenMesh(t *testing.T, file string, edits ...string) string {
	t.Helper()
	dst := meshtest.Copy(t, exampleMesh)
	for i := 0; i+1 < len(edits); i += 2 {
		meshtest.Edit(t, dst, file, edits[i], edits[i+1])
	}
	return dst
}

func TestValidateExampleMesh(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"validate", exampleMesh}, &stdout, &stderr); err != nil {
		t.Fatalf("validate: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	want := "cross-domain edges:\n" +
		"  finance/global-kpis reads sales-china/regional-sales: open, no grant needed\n" +
		"  finance/global-kpis reads sales-emea/regional-sales: restricted: finance-data needs a grant (its runs wait in awaiting-access and ask for one)\n" +
		exampleMesh + ": 6 products, 0 errors, 0 warnings\n"
	if got := stdout.String(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestValidateBrokenMeshText(t *testing.T) {
	dir := brokenMesh(t, "sales-china/regional-sales.odcs.yaml",
		"implementation: units > 0", "implementation: unts > 0",
		"implementation: net_revenue >= 0.0", "implementation: net_revenue + 1.0")
	var stdout, stderr bytes.Buffer
	// Flags may come after the folder.
	err := run(context.Background(), []string{"validate", dir, "--format", "text"}, &stdout, &stderr)
	if ee, ok := errors.AsType[exitError](err); !ok || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	file := filepath.Join(dir, "sales-china", "regional-sales.odcs.yaml")
	want := file + `:42:29: error: rule units_1: undeclared reference to 'unts' (did you mean 'units'?)
   42 |             implementation: unts > 0
      |                             ^
      = help: columns are: day, city, sku, units, net_revenue, currency, orders
` + file + `:52:29: error: rule net_revenue_1 must return a bool, it returns double
   52 |             implementation: net_revenue + 1.0
      |                             ^
      = help: write a condition that is true for good data, such as ` + "`x > 0`" + `
` + dir + `: 6 products, 2 errors, 0 warnings
`
	if got := stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestValidateBrokenMeshJSON(t *testing.T) {
	dir := brokenMesh(t, "finance/fx-rates.odcs.yaml",
		"physicalType: table", "physicalTyp: table",
		"value: fx-rate}", "value: fx-rates}")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"validate", "--format", "json", dir}, &stdout, &stderr)
	if ee, ok := errors.AsType[exitError](err); !ok || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	var rep struct {
		OK          bool `json:"ok"`
		Errors      int  `json:"errors"`
		Warnings    int  `json:"warnings"`
		Diagnostics []struct {
			File     string `json:"file"`
			Line     int    `json:"line"`
			Column   int    `json:"column"`
			Severity string `json:"severity"`
			Code     string `json:"code"`
			Message  string `json:"message"`
			Hint     string `json:"hint"`
			Source   string `json:"source"`
		} `json:"diagnostics"`
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v", err)
	}
	if dec.More() {
		t.Error("stdout holds more than one JSON document")
	}
	if rep.OK || rep.Errors != 2 || rep.Warnings != 0 || len(rep.Diagnostics) != 2 {
		t.Fatalf("ok=%v errors=%d warnings=%d diagnostics=%d, want false, 2, 0, 2", rep.OK, rep.Errors, rep.Warnings, len(rep.Diagnostics))
	}
	file := filepath.Join(dir, "finance", "fx-rates.odcs.yaml")
	type want struct {
		line, col                   int
		code, message, hint, source string
	}
	for i, w := range []want{
		{10, 5, "unknown-key", `unknown key "physicalTyp" in schema[0]`,
			`did you mean "physicalType"? allowed keys here: authoritativeDefinitions, businessName, customProperties, dataGranularityDescription, description, id, logicalType, name, physicalName, physicalType, properties, quality, relationships, tags`,
			"    physicalTyp: table"},
		{17, 60, "unknown-term", `column "usd_rate" links to unknown glossary term "fx-rates"`,
			`did you mean "fx-rate"? or add it to glossary in mesh.yaml`,
			"        customProperties: [{property: glossaryTerm, value: fx-rates}]"},
	} {
		d := rep.Diagnostics[i]
		if d.File != file || d.Line != w.line || d.Column != w.col || d.Severity != "error" ||
			d.Code != w.code || d.Message != w.message || d.Hint != w.hint || d.Source != w.source {
			t.Errorf("diagnostic %d = %+v, want %s:%d:%d error %s: %s (%s) source %q", i, d, file, w.line, w.col, w.code, w.message, w.hint, w.source)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestValidateCleanJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"validate", "--format=json", exampleMesh}, &stdout, &stderr); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := "{\n  \"ok\": true,\n  \"errors\": 0,\n  \"warnings\": 0,\n  \"diagnostics\": []\n}\n"
	if got := stdout.String(); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestValidateBadArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"validate", "--format", "yaml", exampleMesh}, &stdout, &stderr)
	if err == nil || err.Error() != `--format must be text or json, not "yaml"` {
		t.Errorf("bad format: err = %v", err)
	}
	err = run(context.Background(), []string{"validate", exampleMesh, exampleMesh}, &stdout, &stderr)
	if err == nil || err.Error() != "validate takes one mesh folder or file, got 2 arguments" {
		t.Errorf("two folders: err = %v", err)
	}
	err = run(context.Background(), []string{"validate", "--frmat", "json"}, &stdout, &stderr)
	if ee, ok := errors.AsType[exitError](err); !ok || ee.code != 2 {
		t.Errorf("unknown flag: err = %v, want exit status 2", err)
	}
	if !strings.Contains(stderr.String(), "flag provided but not defined: -frmat") {
		t.Errorf("unknown flag: stderr = %q", stderr.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout = %q", stdout.String())
	}
}

func TestValidateMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nowhere")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"validate", dir}, &stdout, &stderr)
	if ee, ok := errors.AsType[exitError](err); !ok || ee.code != 1 {
		t.Fatalf("err = %v, want exit status 1", err)
	}
	want := dir + `: error: cannot read the mesh folder: no such file or directory
      = help: name the folder that holds mesh.yaml, such as examples/mesh
` + dir + ": 0 products, 1 error, 0 warnings\n"
	if got := stdout.String(); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
}

// TestValidateOneFile: validate takes one ODCS contract on its own, or one
// product spec within its mesh, and reports only that file's problems.
func TestValidateOneFile(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"validate", filepath.Join(exampleMesh, "sales-china", "regional-sales.odcs.yaml")}, &out, &errOut); err != nil {
		t.Fatalf("a valid contract: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "a contract, 0 errors") {
		t.Fatalf("output:\n%s", out.String())
	}
	// Two broken files in one mesh: validating one of them reports its problem only.
	dir := brokenMesh(t, "finance/fx-rates.yaml", "sql: SELECT", "sql: SELEC")
	kpis := filepath.Join(dir, "finance", "global-kpis.yaml")
	if err := os.WriteFile(kpis, bytes.Replace(must(os.ReadFile(kpis)), []byte("SELECT"), []byte("SELEC"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(ctx, []string{"validate", kpis}, &out, &errOut)
	if err == nil || strings.Contains(out.String(), "fx-rates.yaml:") || !strings.Contains(out.String(), "global-kpis.yaml:") {
		t.Fatalf("validate of one broken spec: %v\n%s", err, out.String())
	}
	contract := filepath.Join(t.TempDir(), "bad.odcs.yaml")
	if err := os.WriteFile(contract, []byte("apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"validate", contract}, &out, &errOut); err == nil || !strings.Contains(out.String(), `bad.odcs.yaml:1:1: error: missing required key "status"`) {
		t.Fatalf("a broken contract: %v\n%s", err, out.String())
	}
	lone := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(lone, []byte("kind: DataProduct\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"validate", lone}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "no folder above it holds mesh.yaml") {
		t.Fatalf("a spec outside a mesh: %v", err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
