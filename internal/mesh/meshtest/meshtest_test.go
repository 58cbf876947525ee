package meshtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCopyLeavesOutDataUnlessAsked(t *testing.T) {
	example := Example(t)
	if !filepath.IsAbs(example) {
		t.Fatalf("Example() = %s, want an absolute path", example)
	}
	for _, tc := range []struct {
		name     string
		opts     []Option
		wantData bool
	}{
		{"yaml only", nil, false},
		{"with data", []Option{WithData()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := CopyExample(t, tc.opts...)
			if _, err := os.Stat(filepath.Join(dir, "mesh.yaml")); err != nil {
				t.Fatalf("the copy has no mesh.yaml: %v", err)
			}
			want := filepath.Join("data", "finance", "fx.csv")
			_, err := os.Stat(filepath.Join(dir, want))
			if got := err == nil; got != tc.wantData {
				t.Fatalf("the copy holds %s: %t, want %t (%v)", want, got, tc.wantData, err)
			}
			var yamls int
			err = filepath.WalkDir(example, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
					return err
				}
				rel, _ := filepath.Rel(example, path)
				orig, _ := os.ReadFile(path)
				copied, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil || string(copied) != string(orig) {
					t.Errorf("%s: copy differs or is missing (%v)", rel, err)
				}
				yamls++
				return nil
			})
			if err != nil || yamls == 0 {
				t.Fatalf("walk the example: %v, %d YAML files", err, yamls)
			}
		})
	}
}

func TestEdit(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "finance"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "finance", "p.yaml")
	if err := os.WriteFile(file, []byte("approval: never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Edit(t, dir, "finance/p.yaml", "never", "always")
	if b, _ := os.ReadFile(file); string(b) != "approval: always\n" {
		t.Fatalf("after Edit: %q", b)
	}
}
