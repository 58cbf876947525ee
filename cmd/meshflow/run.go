package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/control"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	var conn connFlags
	conn.register(fs)
	var actor actorFlags
	actor.register(fs, "principal who asks for the run (it cannot approve it)")
	reason := fs.String("reason", "manual", "why the run starts (recorded in the manifest)")
	wait := fs.Bool("wait", false, "follow the run until it ends, stage by stage")
	parts := fs.String("partitions", "", "for a partitioned product: also build these partitions, whatever their state (2026-09-01..2026-09-07)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow run [flags] <domain>/<product>\n\nStarts a refresh of a product through meshflow serve, in your name; the run reads the product from\nthe current mesh revision (meshflow apply publishes it; meshflow dev applies its folder).")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	started, err := srv.StartRefresh(ctx, api.RefreshRequest{Product: ref, Reason: *reason, Partitions: *parts})
	if err != nil {
		return fmt.Errorf("start a refresh of %s: %w", ref, err)
	}
	fmt.Fprintf(stdout, "started %s (run %s) as %s\n", started.WorkflowID, started.RunID, started.Principal)
	return followStarted(ctx, conn, ref, started, *wait, stdout, stderr)
}

// followStarted follows a started run until it ends when wait is set, and
// otherwise says how to follow it.
func followStarted(ctx context.Context, conn connFlags, ref string, started api.Started, wait bool, stdout, stderr io.Writer) error {
	if !wait {
		fmt.Fprintf(stdout, "follow it with: meshflow status %s\n", ref)
		return nil
	}
	c, closeFn, err := conn.control(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer closeFn()
	return follow(ctx, c, started.WorkflowID, started.RunID, stdout)
}

// follow prints a run's stage changes until it ends.
func follow(ctx context.Context, c *control.Client, id, runID string, stdout io.Writer) error {
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.Status(ctx, id, runID)
		if err == nil {
			line := fmt.Sprintf("%-18s %s", st.Stage, st.Detail)
			if st.RowsIn > 0 {
				line += fmt.Sprintf(" (rows in %d, out %d, quarantined %d)", st.RowsIn, st.RowsOut, st.Quarantined)
			}
			if line != last {
				fmt.Fprintf(stdout, "%s  %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
			if st.Stage == refresh.StageAwaitingApproval {
				fmt.Fprintf(stdout, "  waiting for %s: meshflow approve %s --as <steward> (or reject)\n", strings.Join(st.Approvers, " or "), st.Product)
				return nil
			}
			if st.Stage.Final() {
				if st.Error != "" {
					return errors.New(st.Error)
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	var conn connFlags
	conn.register(fs)
	limit := fs.Int("n", 20, "how many runs to list")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow status [flags] [<domain>/<product> | <workflow-id>]\n\nLists recent refresh runs, or shows one run (the newest of a product) in detail.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	c, closeFn, err := conn.control(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer closeFn()
	if fs.NArg() == 0 {
		runs, err := c.Runs(ctx, "", "", *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PRODUCT\tSTAGE\tVERSION\tSTATUS\tSTARTED\tWORKFLOW ID")
		for _, r := range runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Product, r.Stage, r.Version, r.Status, r.Start.Local().Format("01-02 15:04:05"), r.WorkflowID)
		}
		return tw.Flush()
	}
	id := fs.Arg(0)
	if !strings.HasPrefix(id, "refresh/") {
		runs, err := c.Runs(ctx, id, "", 1)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return fmt.Errorf("no runs of %s yet; start one with meshflow run %s", id, id)
		}
		id = runs[0].WorkflowID
	}
	st, err := c.Status(ctx, id, "")
	if err != nil {
		return err
	}
	printStatus(stdout, id, st)
	return nil
}

func printStatus(w io.Writer, id string, st refresh.Status) {
	fmt.Fprintf(w, "%s\n  product    %s\n  stage      %s — %s\n  submitter  %s, started %s\n", id, st.Product, st.Stage, st.Detail, st.Submitter, st.StartedAt.Local().Format(time.DateTime))
	fmt.Fprintf(w, "  rows       in %d, out %d, quarantined %d; %d warning rule(s)\n", st.RowsIn, st.RowsOut, st.Quarantined, st.Warnings)
	if p := st.Partitions; p != nil {
		fmt.Fprintf(w, "  partitions %d built, %d carried over (%d of %d batches done)\n", p.Done, p.CarriedOver, p.BatchesDone, p.Batches)
	}
	if st.Version != "" {
		fmt.Fprintf(w, "  version    %s\n", st.Version)
	}
	if st.Unchanged != "" {
		fmt.Fprintf(w, "  unchanged  checked %s, unchanged since %s: nothing was published\n", st.CheckedAt.Local().Format("2006-01-02 15:04"), st.Unchanged)
	}
	if st.SupersededBy != "" {
		fmt.Fprintf(w, "  superseded by %s, a newer run that waits for approval: decide on that one\n", st.SupersededBy)
	}
	for _, r := range st.SupersedeRefused {
		fmt.Fprintf(w, "  refused    supersede claim of %s\n", r)
	}
	if st.ManifestHash != "" {
		fmt.Fprintf(w, "  manifest   %s (breaking change: %t)\n", st.ManifestHash, st.Breaking)
	}
	for _, c := range st.Changes {
		fmt.Fprintf(w, "  change     %-12s %s: %s\n", c.Severity, c.Path, c.Message)
	}
	printImpact(w, st.Impact)
	for _, d := range st.Deprecated {
		fmt.Fprintf(w, "  warning    input %s: %s; from then on, this product's runs fail\n", d.Input, d.Warning())
	}
	for _, p := range st.Policies {
		verdict := "holds"
		if !p.Holds {
			verdict = "does not hold"
		}
		fmt.Fprintf(w, "  policy     %s (%s) %s: %s\n", p.ID, p.Severity, verdict, p.Message)
	}
	for _, g := range st.Groups {
		fmt.Fprintf(w, "  group      %s: %d of %d approvals from %s (satisfied: %t)\n", g.Name, g.Approvals, g.Quorum, strings.Join(g.Members, ", "), g.Satisfied)
	}
	if st.Stage == refresh.StageAwaitingApproval {
		fmt.Fprintf(w, "  approvers  %s, until %s\n", strings.Join(st.Approvers, ", "), st.Deadline.Local().Format(time.DateTime))
	}
	if st.Escalated {
		fmt.Fprintln(w, "  escalated  yes: the escalation principals may decide for the stewards")
	}
	for _, r := range st.Refused {
		fmt.Fprintf(w, "  refused    %s by %s at %s: %s\n", r.Decision, r.Principal, r.At.Local().Format(time.DateTime), r.Reason)
	}
	for _, a := range st.Approvals {
		fmt.Fprintf(w, "  decision   %s by %s at %s: %s\n", a.Decision, a.Principal, a.At.Local().Format(time.DateTime), a.Comment)
	}
	for _, r := range st.Rules {
		switch {
		case r.IsAnomaly():
			fmt.Fprintf(w, "  anomaly    %s\n", r.Message)
		case r.Status == "skipped":
			fmt.Fprintf(w, "  rule       %-28s %-7s %-7s %s\n", r.ID, r.Severity, r.Status, strings.TrimPrefix(r.Message, "skipped: "))
		default:
			fmt.Fprintf(w, "  rule       %-28s %-7s %-5s failing %d (%.2f%%) %s\n", r.ID, r.Severity, r.Status, r.Failing, r.Fraction*100, r.Message)
		}
	}
	if st.Error != "" {
		fmt.Fprintf(w, "  error      %s\n", st.Error)
	}
}

// printImpact shows what a candidate's schema change does to the consumers:
// the changed columns, then one line per consumer with its output columns
// that read them.
func printImpact(w io.Writer, im *refresh.Impact) {
	if im == nil {
		return
	}
	for _, c := range im.Changed {
		fmt.Fprintf(w, "  column     `%s` %s\n", c.Name, c.Describe())
	}
	for _, c := range im.Consumers {
		verdict := "ok"
		switch {
		case c.Pinned > 0:
			verdict = "pinned"
		case c.Breaks():
			verdict = "BREAKS"
		case !c.Checked:
			verdict = "unchecked"
		}
		fmt.Fprintf(w, "  impact     %-9s %s\n", verdict, c.Summary)
		for _, o := range c.Outputs {
			fmt.Fprintf(w, "             output column `%s` reads `%s`\n", o.Column, strings.Join(o.Reads, "`, `"))
		}
		if c.Error != "" {
			fmt.Fprintf(w, "             DuckDB: %s\n", c.Error)
		}
	}
}

func runApprove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return decide(ctx, "approve", true, args, stdout, stderr)
}

func runReject(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return decide(ctx, "reject", false, args, stdout, stderr)
}

func decide(ctx context.Context, verb string, approve bool, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(verb, stderr)
	var conn connFlags
	conn.register(fs)
	var actor actorFlags
	actor.register(fs, "the steward deciding")
	comment := fs.String("comment", "", "why (a rejection needs one: it tells the owners what to fix)")
	runID := fs.String("run", "", "workflow ID of the run, when several wait")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: meshflow %s [flags] <domain>/<product>\n\nDelivers your decision, through meshflow serve, to the run of the product that waits for approval.\n", verb)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	return decideViaServer(ctx, srv, verb, approve, ref, *runID, *comment, stdout)
}
