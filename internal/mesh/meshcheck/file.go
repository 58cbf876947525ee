package meshcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/rules"
)

// CheckFile validates one file, as `meshflow validate <file>` does: an ODCS
// contract (a .odcs.yaml file, or any YAML of kind DataContract) on its own,
// against the official schema with its quality rules compiled against its
// columns; or a product spec within its mesh, found as the nearest folder above
// it that holds mesh.yaml, with only the problems of that spec and its contract
// reported. The Result's Set is nil for a contract.
func CheckFile(ctx context.Context, file string) (*Result, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if isContract(file, data) {
		ds := &diag.List{}
		res := &Result{Rules: map[string]*rules.Set{}, Diagnostics: ds}
		if c, _ := contract.Load(file, data, ds); c != nil {
			cols, rs := rules.FromContract(c, ds)
			res.Rules[c.ID] = rules.Compile(cols, rs, rules.DefaultOptions(), ds)
		}
		return res, nil
	}
	dir, err := meshRoot(file)
	if err != nil {
		return nil, err
	}
	res := Check(ctx, dir)
	abs, _ := filepath.Abs(file)
	files := map[string]bool{abs: true}
	for _, p := range res.Set.Products {
		if p.Doc != nil && sameFile(p.Doc.File, abs) && p.ContractFile != "" {
			c, _ := filepath.Abs(p.ContractFile)
			files[c] = true
		}
	}
	only := &diag.List{}
	for _, d := range res.Diagnostics.Items() {
		if a, _ := filepath.Abs(d.File); files[a] {
			only.Add(d)
		}
	}
	res.Diagnostics = only
	return res, nil
}

func sameFile(a, b string) bool {
	x, _ := filepath.Abs(a)
	return x == b
}

// isContract tells an ODCS contract from a product spec by its name or its kind.
func isContract(file string, data []byte) bool {
	name := strings.ToLower(filepath.Base(file))
	if strings.HasSuffix(name, ".odcs.yaml") || strings.HasSuffix(name, ".odcs.yml") {
		return true
	}
	for line := range bytes.Lines(data) {
		if k, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("kind:")); ok {
			return string(bytes.Trim(bytes.TrimSpace(k), `"'`)) == "DataContract"
		}
	}
	return false
}

// meshRoot returns the nearest folder at or above file's folder that holds
// mesh.yaml.
func meshRoot(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "mesh.yaml")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if parent := filepath.Dir(dir); parent == dir {
			return "", fmt.Errorf("%s is not an ODCS contract and no folder above it holds mesh.yaml: validate a contract (.odcs.yaml), a product spec inside a mesh folder, or the mesh folder", file)
		}
	}
}
