package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"go.yaml.in/yaml/v3"
)

// MeshFile is the name of the governance team's file at the root of a mesh.
const MeshFile = "mesh.yaml"

// Set is a whole mesh as loaded from a directory: mesh.yaml and the product specs.
type Set struct {
	// Dir is the mesh directory as given to Load.
	Dir string
	// Mesh is nil when mesh.yaml could not be read.
	Mesh *Mesh
	// Products are sorted by Ref.
	Products []*Product
	// Files lists every file read, for source excerpts.
	Files []string
}

// Product returns the product with the given "<domain>/<name>" reference, or nil.
func (s *Set) Product(ref string) *Product {
	for _, p := range s.Products {
		if p.Ref() == ref {
			return p
		}
	}
	return nil
}

// Domain returns the named domain, or nil.
func (s *Set) Domain(name string) *Domain {
	if s.Mesh == nil {
		return nil
	}
	for i := range s.Mesh.Domains {
		if s.Mesh.Domains[i].Name == name {
			return &s.Mesh.Domains[i]
		}
	}
	return nil
}

// Principal returns the named principal, or nil.
func (s *Set) Principal(name string) *Principal {
	if s.Mesh == nil {
		return nil
	}
	for i := range s.Mesh.Principals {
		if s.Mesh.Principals[i].Name == name {
			return &s.Mesh.Principals[i]
		}
	}
	return nil
}

// Consumers returns the products that read the given product, sorted by Ref.
func (s *Set) Consumers(ref string) []*Product {
	var out []*Product
	for _, p := range s.Products {
		for _, in := range p.Inputs {
			if in.Product == ref {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Load reads the mesh in dir: dir/mesh.yaml and every product spec in the folders
// below it (files ending in .yaml or .yml; files ending in .odcs.yaml are contracts,
// read when a spec references them). Every problem found is in the returned list;
// the Set holds whatever could be read.
func Load(dir string) (*Set, *diag.List) {
	ds := &diag.List{}
	set := &Set{Dir: dir}
	// A folder that is not there is one problem, not one per file looked for.
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		msg := "the mesh folder is a file"
		if err != nil {
			msg = "cannot read the mesh folder: " + errRoot(err).Error()
		}
		ds.Errorf(diag.Pos{File: dir}, "read-dir", "name the folder that holds mesh.yaml, such as examples/mesh", "%s", msg)
		return set, ds
	}
	meshPath := filepath.Join(dir, MeshFile)
	if to := LeavesMesh(dir, meshPath); to != "" {
		ds.Errorf(diag.Pos{File: meshPath}, "file-outside-mesh", "keep mesh.yaml in the mesh folder, not a symbolic link to a file elsewhere",
			"%s is a symbolic link to %s, outside the mesh folder; it is not read", MeshFile, to)
	} else if data, err := os.ReadFile(meshPath); err != nil {
		ds.Errorf(diag.Pos{File: meshPath}, "no-mesh", "run meshflow in the mesh's root folder, or create mesh.yaml there",
			"cannot read %s: %v", MeshFile, errRoot(err))
	} else {
		set.Files = append(set.Files, meshPath)
		set.Mesh = parseMesh(meshPath, data, ds)
	}
	var specs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if path == meshPath || isContractFile(name) || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			return nil
		}
		specs = append(specs, path)
		return nil
	})
	if err != nil {
		ds.Errorf(diag.Pos{File: dir}, "read-dir", "check that the folder exists and is readable", "cannot read the mesh folder: %v", err)
	}
	for _, path := range specs {
		if to := LeavesMesh(dir, path); to != "" {
			ds.Errorf(diag.Pos{File: path}, "file-outside-mesh", "keep product specs in the mesh folder, not symbolic links to files elsewhere",
				"the spec is a symbolic link to %s, outside the mesh folder; it is not read", to)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			ds.Errorf(diag.Pos{File: path}, "read-file", "check the file's permissions", "cannot read the file: %v", errRoot(err))
			continue
		}
		set.Files = append(set.Files, path)
		if p := parseProduct(dir, path, data, ds); p != nil {
			if p.ContractFile != "" && p.ContractFile != path {
				set.Files = append(set.Files, p.ContractFile)
			}
			set.Products = append(set.Products, p)
		}
	}
	slices.SortFunc(set.Products, func(a, b *Product) int { return strings.Compare(a.Ref(), b.Ref()) })
	set.check(ds)
	return set, ds
}

func isContractFile(name string) bool {
	return strings.HasSuffix(name, ".odcs.yaml") || strings.HasSuffix(name, ".odcs.yml")
}

// errRoot drops the path from a *fs.PathError, which the diagnostic already names.
func errRoot(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

func parseMesh(path string, data []byte, ds *diag.List) *Mesh {
	doc, ok := yamlfile.Parse(path, data, ds)
	if !ok || !isMapping(doc, "Mesh", ds) {
		return nil
	}
	m := &Mesh{Doc: doc}
	yamlfile.Decode(doc, doc.Root, m, ds)
	checkHeader(doc, m.APIVersion, m.Kind, "Mesh", ds)
	return m
}

func parseProduct(dir, path string, data []byte, ds *diag.List) *Product {
	doc, ok := yamlfile.Parse(path, data, ds)
	if !ok || !isMapping(doc, "DataProduct", ds) {
		return nil
	}
	if kind := doc.At("kind"); kind != nil && kind.Value == "Mesh" {
		ds.Errorf(doc.Pos(kind), "misplaced-mesh", "keep one mesh.yaml, at the root of the mesh folder",
			"a Mesh document belongs in %s at the mesh's root", MeshFile)
		return nil
	}
	p := &Product{Doc: doc}
	yamlfile.Decode(doc, doc.Root, p, ds)
	checkHeader(doc, p.APIVersion, p.Kind, "DataProduct", ds)
	p.splitPins()
	if p.Metadata.Name == "" || p.Metadata.Domain == "" {
		return nil // already reported as missing keys; nothing can refer to it
	}
	p.loadContract(dir, ds)
	return p
}

// splitPins splits the major version pin off every product input
// ("aviation/airports@1"): Product keeps the reference, Pin the "@" and what
// follows it, and Major its number when it is one (checkInputs reports
// the others).
func (p *Product) splitPins() {
	for i := range p.Inputs {
		in := &p.Inputs[i]
		ref, pin, ok := strings.Cut(in.Product, "@")
		if !ok {
			continue
		}
		in.Product, in.Pin = ref, "@"+pin
		if n, err := strconv.Atoi(pin); err == nil && n >= 1 && strconv.Itoa(n) == pin {
			in.Major = n
		}
	}
}

// isMapping reports whether the document is a mapping, as every meshflow file is.
func isMapping(doc *yamlfile.Doc, kind string, ds *diag.List) bool {
	if doc.Root.Kind == yaml.MappingNode {
		return true
	}
	ds.Errorf(doc.Pos(doc.Root), "not-a-mapping", fmt.Sprintf("start the file with apiVersion: %s and kind: %s", APIVersion, kind),
		"expected a %s document (a mapping of keys), found %s", kind, yamlfile.Describe(doc.Root))
	return false
}

func checkHeader(doc *yamlfile.Doc, apiVersion, kind, want string, ds *diag.List) {
	if apiVersion != "" && apiVersion != APIVersion {
		ds.Errorf(doc.PosAt("apiVersion"), "api-version", fmt.Sprintf("write apiVersion: %s", APIVersion),
			"unsupported apiVersion %q", apiVersion)
	}
	if kind != "" && kind != want {
		ds.Errorf(doc.PosAt("kind"), "kind", fmt.Sprintf("write kind: %s (contracts go in files ending in .odcs.yaml)", want),
			"expected kind %s, found %q", want, kind)
	}
}

// loadContract reads the product's output contract: a referenced .odcs.yaml file
// (relative to the spec's folder, and resolving inside the mesh folder dir) or
// an inline ODCS document.
func (p *Product) loadContract(dir string, ds *diag.List) {
	n := p.ContractNode
	if n == nil {
		return
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Value != "":
		ref := n.Value
		if filepath.IsAbs(ref) || strings.Contains(filepath.ToSlash(ref), "../") {
			ds.Errorf(p.Doc.Pos(n), "contract-path", "keep the contract next to the spec, or in a folder below it",
				"contract %q must be a relative path inside the spec's folder", ref)
			return
		}
		path := filepath.Join(filepath.Dir(p.Doc.File), ref)
		if to := LeavesMesh(dir, path); to != "" {
			ds.Errorf(p.Doc.Pos(n), "file-outside-mesh", "keep the contract in the mesh folder, not a symbolic link to a file elsewhere",
				"contract %q is a symbolic link to %s, outside the mesh folder; it is not read", ref, to)
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			ds.Errorf(p.Doc.Pos(n), "contract-missing", "create the contract file or fix the name",
				"cannot read contract %q: %v", ref, errRoot(err))
			return
		}
		p.ContractFile = path
		if c, ok := contract.Load(path, data, ds); ok || c != nil {
			p.Contract = c
		}
	case n.Kind == yaml.MappingNode:
		p.ContractFile = p.Doc.File
		if c, ok := contract.FromNode(p.Doc, []any{"contract"}, ds); ok || c != nil {
			p.Contract = c
		}
	default:
		ds.Errorf(p.Doc.Pos(n), "wrong-type", "write the name of a .odcs.yaml file, or the ODCS contract itself as a mapping",
			"expected a contract file name or an inline contract, found %s", yamlfile.Describe(n))
	}
}

var (
	safeName  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,61}[a-z0-9]$`)
	tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	// pinnedURI matches a uri written as if it pinned a major version.
	pinnedURI = regexp.MustCompile(`@[0-9]+/?$`)
)

// SafeName reports whether s can name a domain or product: it becomes part of object
// keys, workflow IDs and URLs, so it is lower-case letters, digits and hyphens,
// starting with a letter, 2 to 63 characters long.
func SafeName(s string) bool { return safeName.MatchString(s) }
