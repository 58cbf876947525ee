package activities

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/testsuite"
)

// TestCompressedAndArrayInputsThroughIngestAndTransform: a gzip CSV and a .json
// file holding one array of records are snapshotted with their suffixes and read
// by the transform as their plain forms.
func TestCompressedAndArrayInputsThroughIngestAndTransform(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write([]byte("id,city\n1,Berlin\n2,Paris\n3,Rome\n"))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"orders.csv.gz": gz.Bytes(),
		"cities.json":   []byte(`[{"city": "Berlin", "country": "DE"}, {"city": "Paris", "country": null}]`),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	uri := func(name string) string { return "file://" + filepath.ToSlash(filepath.Join(dir, name)) }
	p := refresh.Product{Domain: "sales", Name: "orders", SQL: "SELECT o.id, o.city, c.country FROM orders o LEFT JOIN cities c USING (city)",
		Inputs: []refresh.Input{{Name: "orders", URI: uri("orders.csv.gz"), Format: refresh.FormatCSV}, {Name: "cities", URI: uri("cities.json"), Format: refresh.FormatJSON}}}
	a := &Activities{Store: st, Scratch: t.TempDir(), Threads: 1}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	env.RegisterActivity(a.Transform)
	v, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	var ing refresh.IngestResult
	if err := v.Get(&ing); err != nil {
		t.Fatal(err)
	}
	if key := ing.Inputs[0].Objects[0].Key; filepath.Ext(key) != ".gz" {
		t.Fatalf("the gzip snapshot is staged as %s, without its suffix", key)
	}
	v, err = env.ExecuteActivity(a.Transform, refresh.TransformInput{Product: p, RunID: "run-1", Inputs: ing.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	var tr refresh.TransformResult
	if err := v.Get(&tr); err != nil {
		t.Fatal(err)
	}
	if tr.Rows != 3 || len(tr.Columns) != 3 {
		t.Fatalf("transform: %d rows, columns %v; want 3 rows of id, city, country", tr.Rows, tr.Columns)
	}
}
