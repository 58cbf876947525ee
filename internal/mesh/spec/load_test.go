package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
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
	dir := filepath.Join("..", "..", "..", "examples", "mesh")
	set, ds := Load(dir)
	for _, d := range ds.Items() {
		if d.Severity == diag.Error {
			t.Errorf("%s", d.Error())
		}
	}
	if len(set.Products) != 6 {
		t.Fatalf("loaded %d products, want 6", len(set.Products))
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

func TestLoadMissingFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: meshflow/v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "nowhere"), "nowhere:0:0 error read-dir: cannot read the mesh folder: no such file or directory\n"},
		{file, "mesh.yaml:0:0 error read-dir: the mesh folder is a file\n"},
	} {
		set, ds := Load(tc.path)
		if got := render(dir, ds); got != tc.want {
			t.Errorf("Load(%s):\n%s\nwant:\n%s", tc.path, got, tc.want)
		}
		if len(set.Products) != 0 || set.Mesh != nil {
			t.Errorf("Load(%s) returned %d products, mesh %v", tc.path, len(set.Products), set.Mesh)
		}
		if items := ds.Items(); len(items) == 1 && items[0].Hint != "name the folder that holds mesh.yaml, such as examples/mesh" {
			t.Errorf("hint %q", items[0].Hint)
		}
	}
}
