// Package meshtest gives tests the example mesh (examples/mesh of the module)
// and copies of a mesh folder that a test may edit.
//
// The package imports only the standard library, so that any test may use it
// without linking more than it already does.
package meshtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleRel is where the example mesh is, relative to the module's root.
const exampleRel = "examples/mesh"

// Example returns the absolute path of the example mesh. It finds the module's
// root from the working directory, which `go test` sets to the folder of the
// package under test.
func Example(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("find the example mesh: %v", err)
	}
	for {
		mesh := filepath.Join(dir, filepath.FromSlash(exampleRel))
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(mesh, "mesh.yaml")); err != nil {
				t.Fatalf("find the example mesh: %v", err)
			}
			return mesh
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("find the example mesh: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Option changes what Copy copies.
type Option func(*options)

type options struct {
	data bool
}

// WithData copies the mesh's data/ folder as well, every file of it, so that
// the copy's products find their file inputs.
func WithData() Option {
	return func(o *options) { o.data = true }
}

// Copy copies the YAML files of the mesh folder src into a new temporary
// folder and returns that folder. The data/ folder at the top of src is left
// out unless WithData is given.
func Copy(t testing.TB, src string, opts ...Option) string {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir() && rel == "data" && !o.data:
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !strings.HasPrefix(rel, "data"+string(filepath.Separator)) && !strings.HasSuffix(path, ".yaml"):
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the mesh %s: %v", src, err)
	}
	return dst
}

// CopyExample copies the example mesh as Copy does.
func CopyExample(t testing.TB, opts ...Option) string {
	t.Helper()
	return Copy(t, Example(t), opts...)
}

// Edit replaces old with new in file, a slash-separated path relative to dir.
// old must occur in the file exactly once.
func Edit(t testing.TB, dir, file, old, new string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(file))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", file, old, n)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
