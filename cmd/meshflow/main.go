// Command meshflow runs a data mesh: it validates the mesh's files, runs the
// embedded development stack, runs workers, and starts, inspects and approves
// product refreshes. Run `meshflow help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules name IANA time zones; do not depend on the host's zoneinfo
)

// command is one subcommand of meshflow.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything on this machine: Temporal + UI, workers, local store, the example mesh", runDev},
		{"validate", "check a mesh: specs, ODCS contracts, CEL rules and policies", runValidate},
		{"apply", "validate a mesh, publish it as the current mesh revision and make Temporal's schedules match it (--dry-run prints the plan)", runApply},
		{"schedule", "list meshflow's schedules, pause or resume a product's schedule", runSchedule},
		{"backfill", "run a product's scheduled refreshes for missed days: --from 2026-09-01 --to 2026-09-07", runBackfill},
		{"diff", "compare two ODCS contracts and classify every change", runDiff},
		{"worker", "run workers for the mesh's task queues against any Temporal", runWorker},
		{"run", "start a refresh of a product (--wait follows it)", runRun},
		{"status", "list refresh runs, or show one", runStatus},
		{"approve", "approve the run of a product that waits for sign-off", runApprove},
		{"reject", "reject the run of a product that waits for sign-off", runReject},
		{"query", `run SQL over the products you may read: meshflow query 'SELECT * FROM "finance/global-kpis"'`, runQuery},
		{"catalog", "list published products, show one, or audit what is published", runCatalog},
		{"serve", "serve the HTTP API (approvals, runs, decisions) with authentication, and /metrics", runServe},
		{"token", "make an API token for a principal: meshflow token new <principal>", runToken},
		{"keys", "make meshflow serve's signing key: meshflow keys new --out serve.key", runKeys},
		{"access", "request, approve, list, revoke and export read access to products", runAccess},
		{"deprecate", "deprecate a major version of a product for its pinned consumers: meshflow deprecate aviation/airports@1 --on 2027-03-01 --note …", runDeprecate},
		{"codec-server", "serve the payload codec (decrypt for the Temporal UI): --key-file keys --cors-origin http://localhost:8233", runCodecServer},
	}
}

// exitError carries a process exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil && interrupted && errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "meshflow: interrupted")
		os.Exit(130)
	}
	if err != nil {
		if ee, ok := errors.AsType[exitError](err); ok {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "meshflow:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil // -h and --help printed the command's usage: not a failure
			}
			return err
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "meshflow runs a data mesh: data products refreshed, checked, approved and published by Temporal workflows.")
	fmt.Fprintln(w, "\nUsage: meshflow <command> [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun meshflow <command> -h for a command's flags.")
}

// parse parses flags that may come before, between or after the positional
// arguments ("meshflow approve finance/global-kpis --as maria.rossi").
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// flagError is what a command returns when its flags do not parse: exit status 2
// for a bad flag (the flag package has printed what is wrong and the usage), and
// flag.ErrHelp for -h and --help, which run turns into exit status 0.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return flag.ErrHelp
	}
	return exitError{2}
}

// newFlags returns a flag set that reports its errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("meshflow "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
