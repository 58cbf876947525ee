package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSymlinksOutOfTheMeshAreRefused: a product spec, a contract, a local
// input file, a file in an input folder and a partition of a partitioned
// input that are symbolic links out of the mesh folder are each refused at
// validate time with an error at the file, or at the input's uri, naming
// where the link leads; the linked files' content is never read into the
// mesh. A link that stays inside the mesh folder is fine.
func TestSymlinksOutOfTheMeshAreRefused(t *testing.T) {
	outside := t.TempDir()
	passwd := filepath.Join(outside, "passwd")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreignSpec := filepath.Join(outside, "spec.yaml")
	if err := os.WriteFile(foreignSpec, []byte(productSpec("sales", "foreign", "  - {name: o, uri: file://data/o.csv}")), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writeMesh(t, map[string]string{
		"mesh.yaml":                      baseMesh,
		"sales/c.odcs.yaml":              baseContract,
		"sales/p.yaml":                   productSpec("sales", "orders", "  - {name: o, uri: file://data/passwd.csv}\n  - {name: f, uri: file://data/folder/, format: csv}\n  - {name: i, uri: file://data/inside.csv}"),
		"sales/q.yaml":                   strings.Replace(productSpec("sales", "stolen", "  - {name: o, uri: file://data/o.csv}"), "contract: c.odcs.yaml", "contract: stolen.odcs.yaml", 1),
		"sales/d.yaml":                   strings.Replace(productSpec("sales", "days", `  - {name: a, uri: "file://data/days/day={day}/", format: csv}`), "contract: c.odcs.yaml", "contract: c.odcs.yaml\npartitions: {by: day, column: day, start: 2026-01-01}", 1),
		"data/o.csv":                     "amount\n1\n",
		"data/folder/a.csv":              "amount\n1\n",
		"data/days/day=2026-01-01/a.csv": "amount\n1\n",
	})
	for link, target := range map[string]string{
		"data/passwd.csv":          passwd,
		"data/inside.csv":          filepath.Join(dir, "data", "o.csv"),
		"data/folder/b.csv":        passwd,
		"data/days/day=2026-01-02": outside,
		"sales/stolen.odcs.yaml":   passwd,
		"sales/foreign.yaml":       foreignSpec,
	} {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	set, ds := Load(dir)
	got := render(dir, ds)
	for _, want := range []string{
		"sales/foreign.yaml:0:0 error file-outside-mesh: the spec is a symbolic link to " + foreignSpec + ", outside the mesh folder; it is not read",
		`sales/q.yaml:8:11 error file-outside-mesh: contract "stolen.odcs.yaml" is a symbolic link to ` + passwd + ", outside the mesh folder; it is not read",
		`sales/p.yaml:5:20 error file-outside-mesh: input uri "file://data/passwd.csv" reads ` + filepath.Join(dir, "data", "passwd.csv") + ", a symbolic link to " + passwd + " outside the mesh folder",
		`sales/p.yaml:6:20 error file-outside-mesh: input uri "file://data/folder/" reads ` + filepath.Join(dir, "data", "folder", "b.csv") + ", a symbolic link to " + passwd + " outside the mesh folder",
		`sales/d.yaml:5:20 error file-outside-mesh: input uri "file://data/days/day={day}/" reads ` + filepath.Join(dir, "data", "days", "day=2026-01-02") + ", a symbolic link to " + outside + " outside the mesh folder",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "inside.csv") {
		t.Errorf("a link inside the mesh folder is refused:\n%s", got)
	}
	if strings.Contains(got, "root:x") {
		t.Errorf("the diagnostics show the linked file's content:\n%s", got)
	}
	for _, p := range set.Products {
		if p.Ref() == "sales/foreign" {
			t.Error("the linked spec from outside the mesh was loaded")
		}
		if p.Ref() == "sales/stolen" && p.Contract != nil {
			t.Error("the linked contract from outside the mesh was loaded")
		}
	}
}

// TestALinkedMeshFileIsRefused: mesh.yaml itself may not be a symbolic link
// out of the mesh folder.
func TestALinkedMeshFileIsRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(outside, []byte(baseMesh), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "mesh.yaml")); err != nil {
		t.Fatal(err)
	}
	set, ds := Load(dir)
	if got := render(dir, ds); !strings.Contains(got, "mesh.yaml:0:0 error file-outside-mesh: mesh.yaml is a symbolic link to "+outside) || set.Mesh != nil {
		t.Errorf("a linked mesh.yaml: mesh %v, diagnostics:\n%s", set.Mesh != nil, got)
	}
}
