package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/spec"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("validate", stderr)
	format := fs.String("format", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow validate [--format text|json] [mesh-dir | contract.odcs.yaml | product-spec.yaml]\n\n"+
			"Checks mesh.yaml, every product spec, ODCS contract, CEL rule and policy; exits 1 when there is an error.\n"+
			"Given one file, checks an ODCS contract on its own, or a product spec within the mesh folder above it.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	// Contracts the ODCS schema accepted before are not checked again.
	defer contract.RememberAccepted()()
	if *format != "text" && *format != "json" {
		return fmt.Errorf("--format must be text or json, not %q", *format)
	}
	dir := "."
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return fmt.Errorf("validate takes one mesh folder or file, got %d arguments", fs.NArg())
	}
	var res *meshcheck.Result
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		if res, err = meshcheck.CheckFile(ctx, dir); err != nil {
			return err
		}
	} else {
		res = meshcheck.Check(ctx, dir)
	}
	items := res.Diagnostics.Items()
	if *format == "json" {
		if err := diag.WriteJSON(stdout, items, nil); err != nil {
			return err
		}
	} else {
		if err := diag.WriteText(stdout, items, nil); err != nil {
			return err
		}
		errs, warns := 0, 0
		for _, d := range items {
			switch d.Severity {
			case diag.Error:
				errs++
			case diag.Warning:
				warns++
			}
		}
		if errs == 0 {
			writeEdges(stdout, res.Set)
		}
		what := "a contract"
		if res.Set != nil {
			what = count(len(res.Set.Products), "product")
		}
		fmt.Fprintf(stdout, "%s: %s, %s, %s\n", dir, what, count(errs, "error"), count(warns, "warning"))
	}
	if res.Diagnostics.HasErrors() {
		return exitError{1}
	}
	return nil
}

// count writes "1 error", "2 errors".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// writeEdges lists the product-to-product reads across domains and whether each
// needs a grant: the consumer's owner team must hold one to read a restricted
// product of another domain.
func writeEdges(w io.Writer, set *spec.Set) {
	if set == nil {
		return
	}
	header := false
	for _, p := range set.Order() {
		for _, in := range p.Inputs {
			producer := set.Product(in.Product)
			if producer == nil || producer.Metadata.Domain == p.Metadata.Domain {
				continue
			}
			if !header {
				fmt.Fprintln(w, "cross-domain edges:")
				header = true
			}
			need := "open, no grant needed"
			if producer.AccessMode() == spec.AccessRestricted {
				need = "restricted: " + p.Metadata.Owner + " needs a grant (its runs wait in awaiting-access and ask for one)"
			}
			fmt.Fprintf(w, "  %s reads %s: %s\n", p.Ref(), producer.Ref(), need)
		}
	}
}
