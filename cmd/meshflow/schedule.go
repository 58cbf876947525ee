package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/meshflow/meshflow/internal/http/api"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshflow/meshflow/internal/temporal/schedules"
)

const scheduleUsage = `Usage: meshflow schedule <subcommand> [flags]

Subcommands:
  list                                   list meshflow's schedules with their next runs
  pause <domain>/<product> [--note …]    stop a product's scheduled refreshes
  resume <domain>/<product> [--note …]   start them again

A pause lasts until resume, or until an apply of a spec whose schedule.paused
value changed. Schedules are created by meshflow apply.`

func runSchedule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, scheduleUsage)
		return nil
	}
	switch args[0] {
	case "list":
		return scheduleList(ctx, args[1:], stdout, stderr)
	case "pause", "resume":
		return schedulePause(ctx, args[0], args[1:], stdout, stderr)
	}
	fmt.Fprintln(stderr, scheduleUsage)
	return fmt.Errorf("unknown schedule subcommand %q", args[0])
}

func schedulePause(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("schedule "+verb, stderr)
	var conn connFlags
	conn.register(fs)
	note := fs.String("note", "", "why, shown in the Temporal UI")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: meshflow schedule %s [--note …] <domain>/<product>\n", verb)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	c, err := conn.dial(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer c.Close()
	if verb == "pause" {
		err = schedules.Pause(ctx, c, ref, *note)
	} else {
		err = schedules.Resume(ctx, c, ref, *note)
	}
	if err != nil {
		return err
	}
	past := map[string]string{"pause": "paused", "resume": "resumed"}[verb]
	fmt.Fprintf(stdout, "%s %s\n", past, schedules.ID(ref))
	return nil
}

func scheduleList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("schedule list", stderr)
	var conn connFlags
	conn.register(fs)
	n := fs.Int("next", 2, "how many next run times to show")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow schedule list [flags]\n\nLists the schedules meshflow apply made, with their next run times in each schedule's zone.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("schedule list takes no arguments, got %d", fs.NArg())
	}
	c, err := conn.dial(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer c.Close()
	infos, err := schedules.List(ctx, c)
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		fmt.Fprintln(stdout, "no schedules; give products a schedule in their specs and run meshflow apply")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCRON\tTIMEZONE\tOVERLAP\tPAUSED\tNEXT")
	for _, in := range infos {
		loc := time.UTC
		if l, err := time.LoadLocation(in.Timezone); err == nil {
			loc = l
		}
		tz := in.Timezone
		if tz == "" {
			tz = "UTC"
		}
		var next []string
		for i, t := range in.Next {
			if i >= *n {
				break
			}
			next = append(next, t.In(loc).Format("2006-01-02 15:04 MST"))
		}
		paused := "no"
		if in.Paused {
			paused = "yes"
			if in.Note != "" {
				paused += " (" + in.Note + ")"
			}
		}
		if in.Paused || len(next) == 0 {
			next = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, in.Applied.Cron, tz, in.Applied.Overlap, paused, strings.Join(next, ", "))
	}
	return tw.Flush()
}

func runBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backfill", stderr)
	var conn connFlags
	conn.register(fs)
	fromFlag := fs.String("from", "", "first day (2026-09-01, in the schedule's time zone) or instant (RFC 3339); for a partitioned product, the first partition")
	toFlag := fs.String("to", "", "last day, included, or instant (RFC 3339); for a partitioned product, the last partition")
	var actor actorFlags
	actor.register(fs, "principal who asks for a partitioned backfill")
	wait := fs.Bool("wait", false, "for a partitioned product: follow the run until it ends")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow backfill <domain>/<product> --from 2026-09-01 --to 2026-09-07

For a partitioned product, starts one refresh that builds every partition from
--from to --to (keys such as 2026-09-01, 2026-09-01T05 or 2026-09), in parallel
batches over the domain's workers, through meshflow serve in your name
(--server and a token, or --as against meshflow dev).

For any other product, runs the refreshes its schedule would have started in the
range, now, one after the other (missed days after an outage longer than the
catch-up window). Days are read in the schedule's time zone; --to names the last
day included.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := oneArg(fs, "product as <domain>/<product>")
	if err != nil {
		return err
	}
	if *fromFlag == "" || *toFlag == "" {
		return errors.New("backfill needs --from and --to")
	}
	if srv, err := actor.client(); err == nil {
		started, err := srv.StartRefresh(ctx, api.RefreshRequest{Product: ref, Reason: "backfill " + *fromFlag + ".." + *toFlag, Partitions: *fromFlag + ".." + *toFlag})
		var ae *api.Error
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "backfill of %s partitions %s..%s started: %s (run %s) as %s\n", ref, *fromFlag, *toFlag, started.WorkflowID, started.RunID, started.Principal)
			return followStarted(ctx, conn, ref, started, *wait, stdout, stderr)
		case errors.As(err, &ae) && ae.Code == api.CodeNotPartitioned:
			// Not partitioned: run the schedule's missed refreshes.
		default:
			return fmt.Errorf("backfill of %s: %w", ref, err)
		}
	}
	c, err := conn.dial(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := schedules.Describe(ctx, c, ref)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(info.Timezone)
	if err != nil {
		return fmt.Errorf("time zone of schedule %s: %w", info.ID, err)
	}
	from, err := parseWhen(*fromFlag, loc, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := parseWhen(*toFlag, loc, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if err := schedules.Backfill(ctx, c, ref, from, to); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backfill of %s requested: every time of %q from %s to %s, one run after the other\nfollow the runs with: meshflow status %s\n",
		ref, info.Applied.Cron, from.Format(time.RFC3339), to.Format(time.RFC3339), ref)
	return nil
}

// parseWhen reads a day (2026-09-01) in loc or an RFC 3339 instant. A day names
// its start, or with end its last moment, so that the day is included.
func parseWhen(s string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			return t.AddDate(0, 0, 1).Add(-time.Millisecond), nil
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a day such as 2026-09-01 nor a time such as 2026-09-01T06:00:00Z", s)
	}
	return t, nil
}
