package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/refresh"
)

func runDeprecate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deprecate", stderr)
	var actor actorFlags
	actor.register(fs, "the owner or steward deprecating")
	on := fs.String("on", "", "the date (YYYY-MM-DD, UTC) from which the runs of consumers pinned to the major fail")
	note := fs.String("note", "", "why, and what to move to (pinned consumers see it in every warning)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow deprecate [flags] <domain>/<product>@<major> --on YYYY-MM-DD --note \"…\"\n\nRecords, through meshflow serve, that a major version of a product is deprecated: consumers pinned to it\n(product: <domain>/<product>@<major>) are warned until the date, and their runs fail from then on.\nThe product's owner and its stewards (and its domain's) may.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	arg, err := oneArg(fs, "major version as <domain>/<product>@<major>")
	if err != nil {
		return err
	}
	ref, major, err := parsePin(arg)
	if err != nil {
		return err
	}
	if *on == "" {
		return fmt.Errorf("give the date with --on YYYY-MM-DD: from then on, the runs of consumers pinned to %s fail", arg)
	}
	if _, err := refresh.ParseDeprecationDate(*on); err != nil {
		return fmt.Errorf("--on: %w", err)
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	d, err := srv.Deprecate(ctx, ref, api.DeprecationBody{Major: major, On: *on, Note: *note})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: recorded by %s. Consumers pinned to it are warned until %s; from then on, their runs fail.\n", d.Warning(), d.By, d.On)
	return nil
}

// parsePin splits "<domain>/<product>@<major>".
func parsePin(s string) (ref string, major int, err error) {
	ref, m, ok := strings.Cut(s, "@")
	n, aerr := strconv.Atoi(m)
	if !ok || aerr != nil || n < 1 || strings.Count(ref, "/") != 1 {
		return "", 0, fmt.Errorf("%q is not a major version of a product: write <domain>/<product>@<major>, such as aviation/airports@1", s)
	}
	return ref, n, nil
}
