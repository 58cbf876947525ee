package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"go.yaml.in/yaml/v3"
)

// runCatalogExport prints a published product as an ODPS v1.0.0 document
// (package odps), YAML by default.
func runCatalogExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("catalog export", stderr)
	var sf storeFlags
	sf.register(fs)
	format := fs.String("format", "odps", "document format: odps (Open Data Product Standard v1.0.0)")
	asJSON := fs.Bool("json", false, "print JSON instead of YAML")
	mesh := fs.String("mesh", defaultMesh(), "mesh folder, for the team, support, access, approval, schedule and consumers (without one: the contract's team and support)")
	publicURL := fs.String("public-url", os.Getenv("MESHFLOW_PUBLIC_URL"), "URL meshflow serve is reached at, for the management ports (catalog page, JSON entry, metrics) and the data URL; empty leaves them out")
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if *format != "odps" {
		return fmt.Errorf("--format %s: the only export format is odps", *format)
	}
	if *publicURL != "" {
		u, err := url.Parse(*publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--public-url %s: want an http(s) URL such as https://meshflow.example.com", *publicURL)
		}
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	set, err := exportMesh(fs, *mesh)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	src, err := odps.Read(ctx, st, ref)
	if err != nil {
		return err
	}
	if set != nil && set.Product(ref) == nil {
		fmt.Fprintf(stderr, "note: %s is not a product of the mesh in %s; the team and support come from its contract\n", ref, *mesh)
	}
	doc := odps.Build(src, odps.Options{Mesh: set, BaseURL: *publicURL})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(doc)
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode the ODPS document: %w", err)
	}
	return enc.Close()
}

// exportMesh loads the mesh an export reads owners and stewards from: nil when
// the default folder holds no mesh, an error when a folder named with --mesh
// does not.
func exportMesh(fs *flag.FlagSet, dir string) (*spec.Set, error) {
	named := false
	fs.Visit(func(f *flag.Flag) { named = named || f.Name == "mesh" })
	set, _ := spec.Load(dir)
	if set.Mesh == nil {
		if named {
			return nil, fmt.Errorf("--mesh %s: no readable %s there", dir, filepath.Join(dir, spec.MeshFile))
		}
		return nil, nil
	}
	return set, nil
}
