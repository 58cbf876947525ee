package activities

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
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
	p = applyProducts(t, st, p)[0]
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1")
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

// TestBadRowsReachTheQuality: with badRows: quarantine, a CSV's short and long
// lines are set aside by the transform, and Validate counts them and names their
// object, which the version publishes next to its data.
func TestBadRowsReachTheQuality(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.csv"), []byte("id,city\n1,Berlin\n2\n3,Rome,x\n4,Paris\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := refresh.Product{Domain: "sales", Name: "orders", SQL: "SELECT id, city FROM orders",
		Inputs: []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(filepath.Join(dir, "orders.csv")), Format: refresh.FormatCSV, BadRows: refresh.BadRowsQuarantine}},
		Contract: "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\nschema:\n  - name: orders\n    properties:\n" +
			"      - {name: id, logicalType: integer}\n      - {name: city, logicalType: string}\n"}
	p = applyProducts(t, st, p)[0]
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "r1")
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.Ingest)
	env.RegisterActivity(a.Transform)
	env.RegisterActivity(a.Validate)
	var ing refresh.IngestResult
	var tr refresh.TransformResult
	var val refresh.ValidateResult
	for _, step := range []struct {
		fn  any
		in  any
		out any
	}{
		{a.Ingest, refresh.IngestInput{Product: p, RunID: "r1"}, &ing},
		{a.Transform, func() any { return refresh.TransformInput{Product: p, RunID: "r1", Inputs: ing.Inputs} }, &tr},
		{a.Validate, func() any { return refresh.ValidateInput{Product: p, RunID: "r1", Candidate: tr.Candidate} }, &val},
	} {
		in := step.in
		if f, ok := in.(func() any); ok {
			in = f()
		}
		v, err := env.ExecuteActivity(step.fn, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(step.out); err != nil {
			t.Fatal(err)
		}
	}
	q := val.Quality
	if tr.Rows != 2 || q.RowsIn != 2 || q.Rejected != 2 || q.Rejects == nil {
		t.Fatalf("transform %d rows; quality %+v; want 2 rows in and 2 rejected, with their object", tr.Rows, q)
	}
	m := layout.InVersion(refresh.Manifest{Product: p.Ref(), Data: val.Data, Report: val.Report, Quality: q}, "1.0.0")
	if got := layout.Objects(m)[layout.Rejects].Key; got != layout.VersionPrefix(p.Ref(), "1.0.0")+"/"+layout.Rejects {
		t.Fatalf("the version's rejects are at %q", got)
	}
}
