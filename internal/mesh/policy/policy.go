// Package policy compiles and evaluates the mesh-wide policies of mesh.yaml: CEL
// expressions over a product's metadata (`product`), its output contract
// (`contract`, the ODCS document as written) and, during a run, its quality report
// (`quality`). A policy holds when its expression is true; an error-severity policy
// that does not hold blocks publication.
package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
)

// CostLimit bounds the work of one policy evaluation, in CEL cost units.
const CostLimit = 1_000_000

// Policy is one compiled policy.
type Policy struct {
	spec.Policy
	// Pos is where the rule is written.
	Pos  diag.Pos
	prog cel.Program
	// needsQuality is true when the rule reads the quality report, which exists
	// only during a run.
	needsQuality bool
}

// Set is the compiled policies of a mesh, in the order mesh.yaml lists them.
type Set struct{ Policies []*Policy }

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("product", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("contract", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("quality", cel.MapType(cel.StringType, cel.DynType)),
	)
}

// CompileRules compiles policies that were already validated (as a run receives
// them in its input); the first that does not compile is an error.
func CompileRules(policies []spec.Policy) (*Set, error) {
	m := &spec.Mesh{Policies: policies}
	src := "policies:\n"
	for range policies {
		src += "  - {rule: x}\n"
	}
	ds := &diag.List{}
	doc, ok := yamlfile.Parse("policies", []byte(src), ds)
	if !ok {
		return nil, ds.Err()
	}
	m.Doc = doc
	set := Compile(m, ds)
	if err := ds.Err(); err != nil {
		return nil, fmt.Errorf("compile policies: %w", err)
	}
	return set, nil
}

// Compile compiles the policies of a mesh. Every problem is added to ds, placed at
// its line and column in mesh.yaml.
func Compile(m *spec.Mesh, ds *diag.List) *Set {
	set := &Set{}
	if m == nil {
		return set
	}
	env, err := newEnv()
	if err != nil {
		ds.Errorf(diag.Pos{File: m.Doc.File}, "internal", "report this as a bug", "build the policy environment: %v", err)
		return set
	}
	for i, p := range m.Policies {
		node := m.Doc.At("policies", i, "rule")
		if node == nil || strings.TrimSpace(p.Rule) == "" {
			continue // reported by strict decoding
		}
		ast, iss := env.Compile(p.Rule)
		if iss.Err() != nil {
			for _, e := range iss.Errors() {
				loc := e.Location
				ds.Errorf(m.Doc.ScalarPos(node, loc.Line(), loc.Column()+1), "cel", "fix the expression; policies see product, contract and quality",
					"policy %q: %s", p.ID, e.Message)
			}
			continue
		}
		if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
			ds.Errorf(m.Doc.Pos(node), "cel-not-bool", "write a condition that is true when the product complies",
				"policy %q must return a bool, it returns %s", p.ID, ast.OutputType())
			continue
		}
		prog, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
		if err != nil {
			ds.Errorf(m.Doc.Pos(node), "cel", "fix the expression", "policy %q: %v", p.ID, err)
			continue
		}
		set.Policies = append(set.Policies, &Policy{Policy: p, Pos: m.Doc.Pos(node), prog: prog,
			needsQuality: strings.Contains(p.Rule, "quality")})
	}
	return set
}

// Result is the outcome of one policy for one product.
type Result struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Holds is true when the policy's condition is met.
	Holds bool `json:"holds"`
	// Error says why the policy could not be evaluated; such a policy does not hold.
	Error string `json:"error,omitempty"`
}

// Blocks reports whether this result stops publication.
func (r Result) Blocks() bool { return !r.Holds && r.Severity != "warning" }

// Evaluate checks every policy against a product of a loaded mesh. quality is the
// run's quality report as generic values; pass nil outside a run, and the policies
// that read it are skipped. A policy that cannot be evaluated fails closed.
func (s *Set) Evaluate(ctx context.Context, p *spec.Product, quality map[string]any) []Result {
	var contract map[string]any
	if p.Contract != nil {
		contract = p.Contract.Raw
	}
	return s.EvaluateVars(ctx, ProductVars(p), contract, quality)
}

// EvaluateVars checks every policy against the given variables: product (see
// ProductVars), contract (the ODCS document as generic values) and quality.
func (s *Set) EvaluateVars(ctx context.Context, product, contract, quality map[string]any) []Result {
	vars := map[string]any{"product": product, "contract": contract, "quality": quality}
	if contract == nil {
		vars["contract"] = map[string]any{}
	}
	if quality == nil {
		vars["quality"] = map[string]any{}
	}
	var out []Result
	for _, pol := range s.Policies {
		if quality == nil && pol.needsQuality {
			continue
		}
		sev := pol.Severity
		if sev == "" {
			sev = "error"
		}
		r := Result{ID: pol.ID, Severity: sev, Message: pol.Message}
		v, _, err := pol.prog.ContextEval(ctx, vars)
		switch {
		case err != nil:
			r.Error = err.Error()
		default:
			b, ok := v.Value().(bool)
			if !ok {
				r.Error = fmt.Sprintf("returned %v instead of a bool", v.Value())
			}
			r.Holds = ok && b
		}
		out = append(out, r)
	}
	return out
}

// ProductVars is what a policy sees as `product`.
func ProductVars(p *spec.Product) map[string]any {
	tags := slices.Clone(p.Metadata.Tags)
	if tags == nil {
		tags = []string{}
	}
	var inputs []string
	for _, in := range p.Inputs {
		if in.Product != "" {
			inputs = append(inputs, in.Product)
		} else {
			inputs = append(inputs, in.URI)
		}
	}
	if inputs == nil {
		inputs = []string{}
	}
	return map[string]any{
		"name": p.Metadata.Name, "domain": p.Metadata.Domain, "owner": p.Metadata.Owner,
		"description": p.Metadata.Description, "tags": tags, "inputs": inputs,
		"approval": p.Governance.Approval, "stewards": append([]string{}, p.Governance.Stewards...),
	}
}
