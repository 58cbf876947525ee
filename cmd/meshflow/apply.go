package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/meshflow/meshflow/schedules"
)

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	var conn connFlags
	conn.register(fs)
	dryRun := fs.Bool("dry-run", false, "print the plan without changing anything")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow apply [--dry-run] [flags] [mesh-dir]

Validates the mesh, then makes Temporal's schedules match it: one Temporal Schedule
(schedule/<domain>/<product>) per product with a schedule, created, updated when
what it runs changes, deleted when the product or its schedule is gone. Applying an
unchanged mesh changes nothing. Schedules not created by meshflow are left alone.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return exitError{2}
	}
	dir := defaultMesh()
	switch fs.NArg() {
	case 0:
	case 1:
		dir = fs.Arg(0)
	default:
		return fmt.Errorf("apply takes one mesh folder, got %d arguments", fs.NArg())
	}
	res, err := loadMesh(ctx, dir, stderr)
	if err != nil {
		return err
	}
	c, err := conn.dial(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer c.Close()
	plan, err := schedules.Reconcile(ctx, c, res.Set, schedules.Options{DryRun: *dryRun})
	// Print what was done before an error, too.
	if werr := writePlan(stdout, plan); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", dir, err)
	}
	return nil
}

func writePlan(w io.Writer, plan schedules.Plan) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range plan.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Action, c.ScheduleID, c.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d to create, %d to update, %d to delete, %d unchanged",
		plan.Count(schedules.Create), plan.Count(schedules.Update), plan.Count(schedules.Delete), plan.Count(schedules.Unchanged))
	if plan.DryRun {
		summary += " (dry run: nothing changed)"
	} else {
		summary = fmt.Sprintf("%d created, %d updated, %d deleted, %d unchanged",
			plan.Count(schedules.Create), plan.Count(schedules.Update), plan.Count(schedules.Delete), plan.Count(schedules.Unchanged))
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}
