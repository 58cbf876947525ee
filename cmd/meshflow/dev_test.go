package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

// TestDevHintsComeFromTheMesh: the commands meshflow dev suggests name products
// and people of the mesh it runs, not of the example mesh.
func TestDevHintsComeFromTheMesh(t *testing.T) {
	set, ds := spec.Load(exampleMesh)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	hints := strings.Join(devHints(set), "\n")
	for _, want := range []string{"access approve sales-emea/regional-sales --as ", "approve finance/global-kpis --as maria.rossi", "run "} {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	// Another mesh: every product open and approved automatically.
	dir := meshtest.CopyExample(t)
	for _, f := range []string{"sales-emea/regional-sales.yaml", "finance/global-kpis.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(strings.ReplaceAll(string(b), "access: restricted", "access: open"), "approval: always", "approval: never")
		s = strings.ReplaceAll(s, "approval: on-breaking-change", "approval: never")
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, ds = spec.Load(dir)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	hints = strings.Join(devHints(set), "\n")
	if strings.Contains(hints, "access approve") {
		t.Errorf("hints suggest an access approval in a mesh with no restricted product:\n%s", hints)
	}
	if _, _, ok := signOffHint(set); ok && strings.Contains(hints, "approve finance/global-kpis") {
		t.Errorf("hints suggest the example's sign-off after it was turned off:\n%s", hints)
	}
}
