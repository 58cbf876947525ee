package contract

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// FuzzLoad checks that Load never panics and keeps its promises on any input: ok
// means no error was reported, and a contract comes back whenever the input is YAML.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/examples/*.odcs.yaml")
	files = append(files, "testdata/full.odcs.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(spec))
	f.Add([]byte(head + "team: {members: [{username: a}]}\nschema: [{name: t, properties: [{name: a, logicalType: array, items: {logicalType: object, properties: [{name: b}]}}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ds diag.List
		c, ok := Load("f.yaml", data, &ds)
		if ok != !ds.HasErrors() {
			t.Fatalf("ok = %v, but HasErrors = %v", ok, ds.HasErrors())
		}
		if ok && c == nil {
			t.Fatal("ok without a contract")
		}
		for _, d := range ds.Items() {
			if d.File != "f.yaml" || d.Message == "" || d.Code == "" {
				t.Fatalf("malformed diagnostic %+v", d)
			}
		}
		if c != nil {
			_ = c.Pos("schema", 0, "properties", 0)
		}
	})
}
