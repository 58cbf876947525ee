package main

import (
	"context"
	"fmt"
	"io"

	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
)

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", stderr)
	mesh := fs.String("mesh", defaultMesh(), "mesh folder whose principals may get a token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow token new [flags] <principal>\n\nMakes an API token for a principal of the mesh. The token is printed once; mesh.yaml keeps only its hash.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 2 || fs.Arg(0) != "new" {
		fs.Usage()
		return exitError{2}
	}
	name := fs.Arg(1)
	set, _ := spec.Load(*mesh)
	if set == nil || set.Mesh == nil {
		return fmt.Errorf("read the principals of %s: no mesh.yaml there (give --mesh)", *mesh)
	}
	p := set.Principal(name)
	if p == nil {
		var names []string
		for _, q := range set.Mesh.Principals {
			names = append(names, q.Name)
		}
		if c := yamlfile.Closest(name, names); c != "" {
			return fmt.Errorf("no principal %q in %s/mesh.yaml; did you mean %q?", name, *mesh, c)
		}
		return fmt.Errorf("no principal %q in %s/mesh.yaml; add it under principals first", name, *mesh)
	}
	if p.Kind == "team" {
		return fmt.Errorf("%s is a team: teams do not log in; make a token for one of its members (%v) or for a service principal", name, p.Members)
	}
	token, hash, err := auth.NewToken()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `API token for %s (shown once; keep it in a secret store, pass it as --token or $MESHFLOW_TOKEN):

  %s

Add this line to %s's entry under principals in %s/mesh.yaml, then restart meshflow serve:

  tokenHash: %s
`, name, token, name, *mesh, hash)
	if p.TokenHash != "" {
		fmt.Fprintf(stderr, "note: %s has a tokenHash already; replacing it revokes the old token\n", name)
	}
	return nil
}
