package sampledata

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed example data")

// TestCommittedDataIsCurrent checks that the data committed under examples/mesh is
// exactly what the generator writes, so the generator stays the source of truth.
// Run `go test ./examples/sampledata -update` after changing the generator.
func TestCommittedDataIsCurrent(t *testing.T) {
	mesh := filepath.Join("..", "mesh")
	if *update {
		if err := Generate(mesh); err != nil {
			t.Fatal(err)
		}
	}
	fresh := t.TempDir()
	if err := Generate(fresh); err != nil {
		t.Fatal(err)
	}
	for _, rel := range Files {
		want, err := os.ReadFile(filepath.Join(fresh, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(mesh, rel))
		if err != nil {
			t.Fatalf("%s: %v (run go test ./examples/sampledata -update)", rel, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output (run go test ./examples/sampledata -update)", rel)
		}
		if len(want) == 0 {
			t.Errorf("%s is empty", rel)
		}
	}
}

// TestDeterministic checks that two runs write the same bytes.
func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := Generate(a); err != nil {
		t.Fatal(err)
	}
	if err := Generate(b); err != nil {
		t.Fatal(err)
	}
	for _, rel := range Files {
		x, _ := os.ReadFile(filepath.Join(a, rel))
		y, _ := os.ReadFile(filepath.Join(b, rel))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", rel)
		}
	}
}
