package policy

import (
	"context"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
	"github.com/meshflow/meshflow/internal/refresh"
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
		cel.Variable("impact", cel.MapType(cel.StringType, cel.DynType)),
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
				ds.Errorf(m.Doc.ScalarPos(node, loc.Line(), loc.Column()+1), "cel", "fix the expression; policies see product, contract, quality and impact",
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
			needsQuality: readsQuality(ast)})
	}
	return set
}

// readsQuality reports whether a checked expression refers to the variable
// quality. The word alone does not: contract.schema.exists(o, has(o.quality))
// reads the contract, and validate checks it like a run does. A comprehension
// variable named quality counts too, which errs on the side of a run.
func readsQuality(ast *cel.Ast) bool {
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "quality" {
			return true
		}
	}
	return false
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

// Evaluate checks every policy against a product as a run sees it: p is the
// product resolved from a mesh revision (meshrev.Product), c its contract as
// contract.Load reads p.Contract, and quality the run's quality report as
// generic values (refresh.Quality as JSON), and im what the candidate's schema
// change does to the consumers (nil when nothing changes). Outside a run quality
// and im are nil, and the policies that read quality are skipped. A policy that
// cannot be evaluated fails closed. `meshflow validate` and the Govern activity
// both call it, with the same facts (see Facts).
func (s *Set) Evaluate(ctx context.Context, p refresh.Product, c *contract.Contract, quality map[string]any, im *refresh.Impact) []Result {
	vars := Facts(p, c, quality, im)
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

// Facts returns the variables a policy sees, `product`, `contract`, `quality`
// and `impact`, for a product as a run sees it; the package documentation
// describes each. It is the only place that builds them.
func Facts(p refresh.Product, c *contract.Contract, quality map[string]any, im *refresh.Impact) map[string]any {
	inputs := []string{}
	for _, in := range p.Inputs {
		switch {
		case in.Product != "":
			inputs = append(inputs, in.Product)
		case in.SpecURI != "":
			inputs = append(inputs, in.SpecURI)
		default:
			// A revision applied before SpecURI existed carries only the
			// resolved URI.
			inputs = append(inputs, in.URI)
		}
	}
	product := map[string]any{
		"name": p.Name, "domain": p.Domain, "owner": p.Owner, "description": p.Description,
		"tags": nonNil(p.Tags), "inputs": inputs, "access": p.Access,
		"approval": string(p.Governance.Approval), "stewards": nonNil(p.Governance.Stewards),
		"stewardPrincipals": nonNil(p.Governance.StewardPrincipals),
	}
	contractVars := map[string]any{}
	if c != nil && c.Raw != nil {
		contractVars = c.Raw
	}
	if quality == nil {
		quality = map[string]any{}
	}
	impact := map[string]any{"breaksConsumers": im.BreaksConsumers()}
	return map[string]any{"product": product, "contract": contractVars, "quality": quality, "impact": impact}
}

// nonNil returns a copy of list that is never nil, so that a policy sees an
// empty list rather than null.
func nonNil(list []string) []string {
	return append([]string{}, list...)
}
