package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/rules"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Validate checks the candidate against the product's contract: every column the
// contract lists is there, no other column is, each value reads as the column's
// logical type, and the contract's rules are evaluated, dataset rules with the
// product's history (the latest published versions' quality, read from the
// catalog here, never carried by the workflow). The built-in anomaly checks
// compare the row count and null fractions with that history. Rows failing an
// error-severity row rule are quarantined; the rest is the output. The output, the
// quarantine and the full quality report are staged next to each other.
func (a *Activities) Validate(ctx context.Context, in refresh.ValidateInput) (refresh.ValidateResult, error) {
	res, err := a.validate(ctx, in)
	return res, a.scratchErr(in.Product.Ref(), "checking the output", err)
}

func (a *Activities) validate(ctx context.Context, in refresh.ValidateInput) (refresh.ValidateResult, error) {
	var res refresh.ValidateResult
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	p := in.Product
	if want := layout.StagedKey(p.Ref(), in.RunID, layout.Candidate); in.Candidate.Key != want {
		return res, unauthorized("the candidate to check is %s, not this run's %s", in.Candidate.Key, want)
	}
	c, set, err := compileContract(p)
	if err != nil {
		return res, err
	}
	stop := heartbeat(ctx, func() any { return "checking " + p.Ref() })
	defer stop()

	file := filepath.Join(a.scratchDir(in.RunID), "candidate.parquet")
	if err := a.download(ctx, in.Candidate, file); err != nil {
		return res, err
	}
	db, err := a.openEngine(ctx, in.RunID, "validate")
	if err != nil {
		return res, err
	}
	defer db.Close()
	if err := db.LoadParquet(ctx, "candidate", file); err != nil {
		return res, err
	}
	if res.ContractColumns, _, err = a.castToContract(ctx, db, p, c, "candidate", "checked"); err != nil {
		return res, err
	}
	activity.RecordHeartbeat(ctx, "evaluating rules")
	dir := a.scratchDir(in.RunID)
	passing, quarantine := filepath.Join(dir, layout.Data), filepath.Join(dir, layout.Quarantine)
	hist, err := a.productHistory(ctx, p.Ref())
	if err != nil {
		return res, err
	}
	rep, err := set.Evaluate(ctx, db.DB, "checked", rules.EvalOptions{PassingPath: passing, QuarantinePath: quarantine, History: hist})
	if err != nil {
		return res, fmt.Errorf("evaluate rules: %w", err)
	}
	colStats, err := db.ColumnStats(ctx, passing)
	if err != nil {
		return res, fmt.Errorf("column statistics: %w", err)
	}
	addAnomalies(rep, c, hist, refresh.Quality{RowsIn: rep.Rows, RowsOut: rep.Passing, Columns: colStats})
	ref := p.Ref()
	if res.Data, err = a.upload(ctx, passing, layout.StagedKey(ref, in.RunID, layout.Data)); err != nil {
		return res, err
	}
	if rep.Quarantined > 0 {
		q, err := a.upload(ctx, quarantine, layout.StagedKey(ref, in.RunID, layout.Quarantine))
		if err != nil {
			return res, err
		}
		res.Quarantine = &q
	}
	report, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return res, fmt.Errorf("encode quality report: %w", err)
	}
	reportFile := filepath.Join(dir, layout.Report)
	if err := os.WriteFile(reportFile, report, 0o644); err != nil {
		return res, err
	}
	if res.Report, err = a.upload(ctx, reportFile, layout.StagedKey(ref, in.RunID, layout.Report)); err != nil {
		return res, err
	}
	if cols, err := db.Columns(ctx, "checked"); err == nil {
		for _, c := range cols {
			res.Columns = append(res.Columns, refresh.Column{Name: c.Name, Type: c.Type})
		}
	}
	res.Quality = Summarize(rep)
	if err := a.rejects(ctx, db, ref, in.RunID, &res.Quality); err != nil {
		return res, err
	}
	res.Quality.Columns = colStats
	// The fingerprint tells an unchanged output from a new one when DuckDB
	// writes the same rows to other bytes (refresh.Unchanged).
	if res.Quality.Fingerprint, err = db.Fingerprint(ctx, passing); err != nil {
		return res, err
	}
	return res, a.stageJSON(ctx, ref, in.RunID, layout.Checks, stagedChecks{Validate: res})
}

// castToContract checks that table from has exactly the contract's columns and
// creates table to with each value read as its column's logical type. It returns
// the contract's columns (logical types) and to's columns (DuckDB types).
func (a *Activities) castToContract(ctx context.Context, db *engine.DB, p refresh.Product, c *contract.Contract, from, to string) (contractCols, cols []refresh.Column, err error) {
	have, err := db.Columns(ctx, from)
	if err != nil {
		return nil, nil, err
	}
	props := c.Schema[0].Properties
	if err := checkColumns(p, have, props); err != nil {
		return nil, nil, err
	}
	var casts []string
	for _, prop := range props {
		casts = append(casts, fmt.Sprintf("CAST(%s AS %s) AS %s", engine.Ident(prop.Name), duckType(prop), engine.Ident(prop.Name)))
		contractCols = append(contractCols, refresh.Column{Name: prop.Name, Type: prop.LogicalType})
	}
	if _, err := db.Run(ctx, to, "SELECT "+strings.Join(casts, ", ")+" FROM "+engine.Ident(from)); err != nil {
		return nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the output does not match the types of the contract: %v", err), refresh.ErrContract, nil)
	}
	typed, err := db.Columns(ctx, to)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range typed {
		cols = append(cols, refresh.Column{Name: c.Name, Type: c.Type})
	}
	return contractCols, cols, nil
}

// rejects records in q the input lines the transform set aside, if it staged
// any: their object and their count.
func (a *Activities) rejects(ctx context.Context, db *engine.DB, ref, runID string, q *refresh.Quality) error {
	key := layout.StagedKey(ref, runID, layout.Rejects)
	obj, err := a.Store.Head(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the staged rejects: %w", err)
	}
	file := filepath.Join(a.scratchDir(runID), layout.Rejects)
	r := refresh.ObjectRef{Key: obj.Key, Size: obj.Size, SHA256: obj.SHA256}
	if err := a.download(ctx, r, file); err != nil {
		return err
	}
	if err := db.LoadParquet(ctx, "rejects", file); err != nil {
		return err
	}
	n, err := db.Count(ctx, "rejects")
	if err != nil {
		return err
	}
	q.Rejected, q.Rejects = n, &r
	return nil
}

// compileContract parses the product's contract and compiles its rules; a contract
// that does not compile is a non-retryable error (apply and validate catch it
// first).
func compileContract(p refresh.Product) (*contract.Contract, *rules.Set, error) {
	ds := &diag.List{}
	name := p.ContractFile
	if name == "" {
		name = p.Ref() + ".odcs.yaml"
	}
	c, _ := contract.Load(name, []byte(p.Contract), ds)
	var set *rules.Set
	if c != nil {
		cols, rs := rules.FromContract(c, ds)
		set = rules.Compile(cols, rs, rules.DefaultOptions(), ds)
	}
	if ds.HasErrors() || c == nil || len(c.Schema) == 0 {
		var b bytes.Buffer
		src := &diag.FileSources{}
		src.Set(name, []byte(p.Contract))
		_ = diag.WriteText(&b, ds.Items(), src)
		msg := strings.TrimSpace(b.String())
		if msg == "" {
			msg = "the contract has no schema"
		}
		return nil, nil, temporal.NewNonRetryableApplicationError("the contract does not compile:\n"+msg, refresh.ErrBadSpec, nil)
	}
	return c, set, nil
}

// checkColumns reports columns the contract does not allow and columns it lists
// that the output lacks.
func checkColumns(p refresh.Product, have []engine.Column, props []*contract.Property) error {
	var problems []string
	for _, h := range have {
		if !slices.ContainsFunc(props, func(pr *contract.Property) bool { return pr.Name == h.Name }) {
			problems = append(problems, fmt.Sprintf("column %q is not in the contract (add it to the contract or leave it out of the SQL)", h.Name))
		}
	}
	for _, pr := range props {
		if !slices.ContainsFunc(have, func(h engine.Column) bool { return h.Name == pr.Name }) {
			problems = append(problems, fmt.Sprintf("the contract's column %q is missing from the output", pr.Name))
		}
	}
	if len(problems) > 0 {
		return temporal.NewNonRetryableApplicationError(strings.Join(problems, "; "), refresh.ErrContract, nil)
	}
	return nil
}

// duckType maps a contract property to the DuckDB type its values are read as.
func duckType(p *contract.Property) string { return rules.DuckDBType(p.LogicalType, p.PhysicalType) }

// Summarize turns a rules report into the summary the workflow carries. Its
// anomalies are among its rules, as warnings.
func Summarize(rep *rules.Report) refresh.Quality {
	q := refresh.Quality{RowsIn: rep.Rows, RowsOut: rep.Passing, Quarantined: rep.Quarantined, Blocked: rep.Blocked()}
	for _, r := range rep.Rules {
		if r.Status == rules.StatusWarn {
			q.Warnings++
		}
		q.Rules = append(q.Rules, refresh.RuleSummary{ID: r.ID, Severity: r.Severity.String(), Status: string(r.Status),
			Failing: r.Failing, Fraction: r.FailingFraction, Message: r.Message})
	}
	if rep.History != nil {
		q.History = rep.History.Versions
	}
	q.Anomalies = anomalies(rep)
	return q
}
