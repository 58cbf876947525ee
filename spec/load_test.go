package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/diag"
)

// render formats diagnostics one per line, with paths relative to dir.
func render(dir string, ds *diag.List) string {
	var b strings.Builder
	for _, d := range ds.Items() {
		rel, err := filepath.Rel(dir, d.File)
		if err != nil {
			rel = d.File
		}
		fmt.Fprintf(&b, "%s:%d:%d %s %s: %s\n", filepath.ToSlash(rel), d.Line, d.Col, d.Severity, d.Code, d.Message)
	}
	return b.String()
}

func TestExampleMeshLoadsClean(t *testing.T) {
	dir := filepath.Join("..", "examples", "mesh")
	set, ds := Load(dir)
	for _, d := range ds.Items() {
		if d.Severity == diag.Error {
			t.Errorf("%s", d.Error())
		}
	}
	if len(set.Products) != 5 {
		t.Fatalf("loaded %d products, want 5", len(set.Products))
	}
	order := set.Order()
	pos := map[string]int{}
	for i, p := range order {
		pos[p.Ref()] = i
	}
	if pos["finance/global-kpis"] < pos["sales-china/regional-sales"] || pos["finance/global-kpis"] < pos["finance/fx-rates"] {
		t.Errorf("order puts global-kpis before its inputs: %v", pos)
	}
	if got := set.Consumers("finance/fx-rates"); len(got) != 1 || got[0].Ref() != "finance/global-kpis" {
		t.Errorf("consumers of fx-rates: %v", got)
	}
	for _, p := range set.Products {
		if p.Contract == nil {
			t.Errorf("%s: contract not loaded", p.Ref())
		}
	}
}

// writeMesh writes files (relative path → content) into a new temporary mesh.
func writeMesh(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
