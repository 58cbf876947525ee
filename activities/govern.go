package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/contract/contractdiff"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/impact"
	"github.com/meshflow/meshflow/internal/mesh/policy"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
)

// Govern checks a candidate against the mesh's policies (over the product, its
// contract, the run's quality report and the impact of its schema change) and
// compares its contract with the last published one, classifying every change.
// When the candidate's columns differ from the last published version's, it
// checks every consumer's SQL against them (package impact) before anyone is
// asked to sign off. The candidate contract is staged so that Publish stores it
// with the version.
func (a *Activities) Govern(ctx context.Context, in refresh.GovernInput) (refresh.GovernResult, error) {
	var res refresh.GovernResult
	// Only the product and the run come from the input, and both are
	// checked; the quality, the columns, the published version compared
	// against, the consumers and the policies are read here, so that no
	// input decides what the checks find.
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	var checks stagedChecks
	checksSum, err := a.readStagedSum(ctx, in.Product.Ref(), in.RunID, layout.Checks, &checks)
	if err != nil {
		return res, err
	}
	head, found, err := catalog.ReadLatest(ctx, a.Store, in.Product.Ref())
	if err != nil {
		return res, err
	}
	in.Product, in.Policies, in.Pins = resolved.Product, resolved.Policies, true
	in.Quality, in.Columns, in.Previous, in.Consumers = checks.Validate.Quality, checks.Validate.Columns, nil, nil
	previous := ""
	if found {
		in.Previous, previous = &head.Manifest, head.Pointer.Version
	}
	for _, ref := range in.Product.Consumers {
		if c, ok := resolved.Downstream[ref]; ok {
			in.Consumers = append(in.Consumers, c)
		}
	}
	p := in.Product
	ds := &diag.List{}
	cur, _ := contract.Load(contractName(p), []byte(p.Contract), ds)
	if cur == nil {
		return res, temporal.NewNonRetryableApplicationError("the contract does not parse: "+ds.Err().Error(), refresh.ErrBadSpec, nil)
	}
	res.ContractVersion = cur.Version

	rules := make([]spec.Policy, len(in.Policies))
	for i, pol := range in.Policies {
		rules[i] = spec.Policy{ID: pol.ID, Message: pol.Message, Severity: pol.Severity, Rule: pol.Rule}
	}
	set, err := policy.CompileRules(rules)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), refresh.ErrBadSpec, nil)
	}
	quality, err := asMap(in.Quality)
	if err != nil {
		return res, err
	}
	// Omitted from the JSON when zero or empty; policies may always read them.
	for key, zero := range map[string]any{"rejected": 0, "history": 0, "anomalies": []any{}} {
		if _, ok := quality[key]; !ok {
			quality[key] = zero
		}
	}

	if prev := in.Previous; prev != nil && prev.Contract != nil {
		old, err := catalog.Contract(ctx, a.Store, *prev)
		if err != nil {
			return res, err
		}
		diff := contractdiff.Compare(old, cur)
		res.Breaking = diff.Breaking
		for _, c := range diff.Changes {
			res.Changes = append(res.Changes, refresh.ContractChange{Severity: string(c.Severity), Kind: c.Kind, Path: c.Path, Message: c.Message})
		}
	}
	if prev := in.Previous; prev != nil && len(prev.Columns) > 0 && len(in.Columns) > 0 {
		scratch := a.scratchDir(in.RunID, "impact")
		defer os.RemoveAll(scratch)
		ch := impact.Change{Product: p.Ref(), Old: prev.Columns, New: in.Columns}
		if in.Pins {
			ch.Major = refresh.NextMajor(prev.Version, res.Breaking)
		}
		res.Impact, err = impact.Analyze(ctx, scratch, ch,
			in.Consumers, a.knownColumns(scratch))
		if err != nil {
			return res, fmt.Errorf("check the consumers of %s: %w", p.Ref(), err)
		}
	}

	for _, r := range set.Evaluate(ctx, p, cur, quality, res.Impact) {
		res.Policies = append(res.Policies, refresh.PolicyResult{ID: r.ID, Severity: r.Severity, Message: r.Message, Holds: r.Holds, Error: r.Error})
	}

	key := layout.StagedKey(p.Ref(), in.RunID, layout.Contract)
	obj, err := a.Store.Put(ctx, key, strings.NewReader(p.Contract), storage.PutOptions{ContentType: "application/yaml"})
	if err != nil {
		return res, fmt.Errorf("stage contract: %w", err)
	}
	res.Contract = refresh.ObjectRef{Key: key, Size: obj.Size, SHA256: sha256Hex([]byte(p.Contract))}
	if err := a.stageJSON(ctx, p.Ref(), in.RunID, layout.Governance, stagedGovernance{Govern: res, Previous: previous, Checks: checksSum}); err != nil {
		return res, err
	}
	res.Latest = &refresh.LatestResult{Found: found}
	if found {
		res.Latest.Manifest = head.Manifest
	}
	a.notifyGovern(ctx, in, res)
	return res, nil
}

// knownColumns returns the columns of a consumer's inputs as far as they can
// be known before the consumer's run, as meshflow validate knows them: an
// upstream product's are those of its latest published version, and local
// files' (file://) those DuckDB reads from them, sniffing a sample in a
// sandbox that may read only them. The columns of s3:// and PostgreSQL inputs
// are known only in the consumer's run.
func (a *Activities) knownColumns(scratch string) impact.Columns {
	return func(ctx context.Context, in refresh.Input) ([]refresh.Column, bool, error) {
		if in.Product != "" {
			h, found, err := catalog.ReadLatest(ctx, a.Store, in.Product)
			if in.Major > 0 {
				h, found, err = catalog.ReadMajor(ctx, a.Store, in.Product, in.Major)
			}
			if err != nil || !found {
				return nil, false, err
			}
			return h.Manifest.Columns, len(h.Manifest.Columns) > 0, nil
		}
		path, ok := strings.CutPrefix(in.URI, "file://")
		if !ok || a.inStore(in.URI) {
			return nil, false, nil
		}
		path = filepath.FromSlash(path)
		sources, err := a.fileSources(in, path)
		if err != nil {
			return nil, false, nil // the consumer's run reports it
		}
		allow := path
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
			allow = filepath.Dir(path)
		}
		db, err := engine.Open(ctx, filepath.Join(scratch, "files", in.Name), 1, "256MB", 0, allow)
		if err != nil {
			return nil, false, err
		}
		defer db.Close()
		files := make([]string, len(sources))
		for i, src := range sources {
			files[i] = src.name
		}
		cols, err := db.DescribeInput(ctx, engine.Input{Name: in.Name, Format: in.Format, Files: files, Delimiter: in.Delimiter, Header: in.Header})
		if err != nil {
			return nil, false, nil // not readable as its format: the consumer's run reports it
		}
		out := make([]refresh.Column, len(cols))
		for i, c := range cols {
			out[i] = refresh.Column{Name: c.Name, Type: c.Type}
		}
		return out, len(out) > 0, nil
	}
}

func contractName(p refresh.Product) string {
	if p.ContractFile != "" {
		return p.ContractFile
	}
	return p.Ref() + ".odcs.yaml"
}

// asMap turns a value into generic JSON values, as CEL policies see it.
func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.NewDecoder(bytes.NewReader(b)).Decode(&m)
	return m, err
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
