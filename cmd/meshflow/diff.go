package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/meshflow/meshflow/internal/contract"
	"github.com/meshflow/meshflow/internal/contract/contractdiff"
	"github.com/meshflow/meshflow/internal/mesh/diag"
)

// runDiff compares two ODCS contracts. It exits 0 when no change reaches the
// --fail-on severity (breaking by default), 1 when one does, and 2 when the
// arguments are wrong or a contract cannot be read.
func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("diff", stderr)
	format := fs.String("format", "text", "output format: text or json")
	failOn := fs.String("fail-on", "breaking", "exit 1 when a change is at least this serious: breaking, non-breaking or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: meshflow diff [--format text|json] [--fail-on breaking|non-breaking|never] <old.odcs.yaml> <new.odcs.yaml>

Lists every change from the old contract to the new one and classifies it as
breaking, non-breaking or info. Exits 0 when no change reaches --fail-on, 1 when
one does, and 2 on wrong arguments or a contract that cannot be read.`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	// Contracts the ODCS schema accepted before are not checked again.
	defer contract.RememberAccepted()()
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "meshflow diff: "+format+"\n", a...)
		return exitError{2}
	}
	if *format != "text" && *format != "json" {
		return usageErr("--format must be text or json, not %q", *format)
	}
	var threshold []contractdiff.Severity
	switch *failOn {
	case "breaking":
		threshold = []contractdiff.Severity{contractdiff.Breaking}
	case "non-breaking":
		threshold = []contractdiff.Severity{contractdiff.Breaking, contractdiff.NonBreaking}
	case "never":
	default:
		return usageErr("--fail-on must be breaking, non-breaking or never, not %q", *failOn)
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageErr("diff takes two contract files, got %d arguments", fs.NArg())
	}
	var contracts [2]*contract.Contract
	for i, file := range fs.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			return usageErr("%v", err)
		}
		var ds diag.List
		c, ok := contract.Load(file, data, &ds)
		if !ok {
			src := &diag.FileSources{}
			src.Set(file, data)
			var errs []diag.Diagnostic
			for _, d := range ds.Items() {
				if d.Severity == diag.Error {
					errs = append(errs, d)
				}
			}
			diag.WriteText(stderr, errs, src)
			return usageErr("%s is not a valid ODCS contract", file)
		}
		contracts[i] = c
	}
	res := contractdiff.Compare(contracts[0], contracts[1])
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		writeDiffText(stdout, res)
	}
	for _, s := range threshold {
		if res.Count(s) > 0 {
			return exitError{1}
		}
	}
	return nil
}

// writeDiffText prints one line per change, grouped by severity, and a summary.
func writeDiffText(w io.Writer, res contractdiff.Result) {
	width := 0
	for _, c := range res.Changes {
		width = max(width, len(c.Path))
	}
	for _, s := range contractdiff.Severities {
		for _, c := range res.Changes {
			if c.Severity == s {
				fmt.Fprintf(w, "%-13s %-*s  %s\n", c.Severity, width, c.Path, c.Message)
			}
		}
	}
	if len(res.Changes) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	noun := "changes"
	if len(res.Changes) == 1 {
		noun = "change"
	}
	fmt.Fprintf(w, "%d %s: %d breaking, %d non-breaking, %d info\n", len(res.Changes), noun,
		res.Counts.Breaking, res.Counts.NonBreaking, res.Counts.Info)
}
