package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/temporal/schedules"
)

func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", stderr)
	var conn connFlags
	conn.register(fs)
	var sf storeFlags
	sf.register(fs)
	dryRun := fs.Bool("dry-run", false, "print the plan without changing anything")
	keys := fs.String("signing-public-key", os.Getenv("MESHFLOW_SIGNING_PUBLIC_KEY"), "meshflow serve's public key (ed25519:…, from meshflow keys new); comma-separated while a key rotates")
	noSchedules := fs.Bool("no-schedules", false, "publish the mesh revision only and leave Temporal's schedules alone (no Temporal needed)")
	appliedBy := fs.String("applied-by", envOr("MESHFLOW_APPLIED_BY", "meshflow-apply"), "the principal applying the mesh: the submitter of scheduled runs")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow apply [--dry-run] [flags] [mesh-dir]

Validates the mesh and publishes it to the object store as an immutable,
content-addressed mesh revision, which becomes the current one: workers read
every product's spec, contract, governance and policies from it, never from a
run's input. Only apply's credentials may write it. Then apply makes Temporal's
schedules match the mesh: one Temporal Schedule
(schedule/<domain>/<product>) per product with a schedule, created, updated when
what it runs changes, deleted when the product or its schedule is gone. Applying an
unchanged mesh changes nothing. Schedules not created by meshflow are left alone.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
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
	pub, err := publicKeys(*keys)
	if err != nil {
		return err
	}
	rev, err := meshrev.Build(res.Set, *appliedBy, pub)
	if err != nil {
		return fmt.Errorf("apply %s: %w", dir, err)
	}
	if *dryRun {
		_, id, err := rev.Encode()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "mesh revision %s (%d products; dry run: not published)\n", meshrev.Short(id), len(rev.Products))
	} else {
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		published, err := meshrev.Publish(ctx, st, rev, time.Now())
		if err != nil {
			return fmt.Errorf("apply %s: %w", dir, err)
		}
		printRevision(stdout, published, len(rev.Products))
	}
	if *noSchedules {
		return nil
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

// printRevision says which mesh revision is current after an apply.
func printRevision(w io.Writer, p meshrev.Published, products int) {
	if !p.Moved {
		fmt.Fprintf(w, "mesh revision %s is current already (%d products)\n", meshrev.Short(p.ID), products)
		return
	}
	from := ""
	if p.Previous != "" {
		from = ", was " + meshrev.Short(p.Previous)
	}
	fmt.Fprintf(w, "published mesh revision %s (%d products%s)\n", meshrev.Short(p.ID), products, from)
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
