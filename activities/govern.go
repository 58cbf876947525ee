package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/contract/contractdiff"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/policy"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
)

// Govern checks a candidate against the mesh's policies (over the product, its
// contract and the run's quality report) and compares its contract with the last
// published one, classifying every change. The candidate contract is staged so
// that Publish stores it with the version.
func (a *Activities) Govern(ctx context.Context, in refresh.GovernInput) (refresh.GovernResult, error) {
	var res refresh.GovernResult
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
	if _, ok := quality["rejected"]; !ok {
		quality["rejected"] = 0 // omitted from the JSON when zero; policies may always read it
	}
	for _, r := range set.Evaluate(ctx, p, cur, quality) {
		res.Policies = append(res.Policies, refresh.PolicyResult{ID: r.ID, Severity: r.Severity, Message: r.Message, Holds: r.Holds, Error: r.Error})
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

	key := layout.StagedKey(p.Ref(), in.RunID, layout.Contract)
	obj, err := a.Store.Put(ctx, key, strings.NewReader(p.Contract), storage.PutOptions{ContentType: "application/yaml"})
	if err != nil {
		return res, fmt.Errorf("stage contract: %w", err)
	}
	res.Contract = refresh.ObjectRef{Key: key, Size: obj.Size, SHA256: sha256Hex([]byte(p.Contract))}
	a.notifyGovern(ctx, in, res)
	return res, nil
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
