package spec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// FuzzParseProduct feeds arbitrary bytes to the product spec decoder: it must never
// panic, and whatever it rejects must come with at least one error.
func FuzzParseProduct(f *testing.F) {
	for _, name := range []string{"sales-china/regional-sales.yaml", "sales-emea/regional-sales.yaml", "finance/global-kpis.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "mesh", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("apiVersion: meshflow/v1\nkind: DataProduct\nmetadata: {name: &a x, domain: *a}\n"))
	f.Add([]byte("inputs: [{name: 1}, [2], {uri: {a: b}}]\ngovernance: {timeout: -5h, quorum: 9999999999999999999}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds := &diag.List{}
		dir := t.TempDir()
		p := parseProduct(dir, filepath.Join(dir, "p.yaml"), data, ds)
		if p == nil && !ds.HasErrors() {
			t.Fatalf("spec rejected without an error: %q", data)
		}
		for _, d := range ds.Items() {
			if d.Message == "" || d.File == "" {
				t.Fatalf("diagnostic without message or file: %+v", d)
			}
		}
	})
}
