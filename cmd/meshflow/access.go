package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/http/api"
)

const accessUsage = `Usage: meshflow access <subcommand> [flags] [args]

  request <domain>/<product> --as <principal> --purpose "…" [--for 720h]
  approve|reject <workflow-id | domain/product> --as <principal> [--comment "…"]
  list [<domain>/<product>]            grants in the store and pending requests
  revoke <grant-id | workflow-id> --as <principal> [--reason "…"]
  policy --bucket <bucket> [--prefix <prefix>] [--principal-arn-template "arn:aws:iam::123456789012:role/{principal}"]

Run meshflow access <subcommand> -h for its flags.`

func runAccess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, accessUsage)
		return nil
	}
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"request": accessRequest,
		"approve": func(ctx context.Context, a []string, o, e io.Writer) error {
			return accessDecide(ctx, "approve", true, a, o, e)
		},
		"reject": func(ctx context.Context, a []string, o, e io.Writer) error {
			return accessDecide(ctx, "reject", false, a, o, e)
		},
		"list":   accessList,
		"revoke": accessRevoke,
		"policy": accessPolicy,
	}[args[0]]
	if sub == nil {
		fmt.Fprintln(stderr, accessUsage)
		return fmt.Errorf("unknown access subcommand %q", args[0])
	}
	return sub(ctx, args[1:], stdout, stderr)
}

// accessFlags builds the flag set of an access subcommand.
func accessFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := newFlags("access "+name, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: meshflow access %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

func accessRequest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := accessFlags("request", "request [flags] <domain>/<product>\n\nAsks the product's owner team or stewards, through meshflow serve, for read access in your name.", stderr)
	var actor actorFlags
	actor.register(fs, "the principal who will read the product")
	purpose := fs.String("purpose", "", "why you need the data (shown to the approvers)")
	dur := fs.Duration("for", 720*time.Hour, "how long the grant lasts once approved")
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
	started, err := srv.RequestAccess(ctx, api.AccessRequestBody{Product: ref, Purpose: *purpose, Duration: dur.String()})
	if err != nil {
		return fmt.Errorf("request access to %s: %w", ref, err)
	}
	fmt.Fprintf(stdout, "requested %s for %s as %s: %s\n  waiting for its owner team or a steward: meshflow access approve %s\n",
		ref, *dur, started.Principal, started.WorkflowID, started.WorkflowID)
	return nil
}

func accessDecide(ctx context.Context, verb string, approve bool, args []string, stdout, stderr io.Writer) error {
	fs := accessFlags(verb, verb+" [flags] <workflow-id | domain/product>\n\nDecides, through meshflow serve, on an access request (by product when only one is pending).", stderr)
	var actor actorFlags
	actor.register(fs, "the approver deciding (a member of the owner team or a steward)")
	comment := fs.String("comment", "", "why")
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	target, err := oneArg(fs, "access request as a workflow ID or <domain>/<product>")
	if err != nil {
		return err
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	st, err := srv.DecideAccess(ctx, api.AccessDecisionBody{Target: target, Approve: &approve, Comment: *comment})
	if err != nil {
		return fmt.Errorf("%s access %s: %w", verb, target, err)
	}
	fmt.Fprintf(stdout, "%s for %s: %s\n", st.Request.Product, st.Request.Requester, st.Stage)
	if g := st.Grant; g != nil {
		fmt.Fprintf(stdout, "  grant %s until %s\n", g.ID, g.ExpiresAt.Local().Format(time.DateTime))
	}
	return nil
}

func accessList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := accessFlags("list", "list [flags] [<domain>/<product>]\n\nLists grants from the store and the requests that wait for a decision.", stderr)
	var conn connFlags
	conn.register(fs)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := optionalProduct(fs)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	all, err := grants.List(ctx, st, ref)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GRANT\tPRODUCT\tPRINCIPAL\tSTATE\tEXPIRES\tGRANTED BY\tPURPOSE")
	for _, g := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Product, g.Principal, grantState(g, now),
			g.ExpiresAt.Local().Format(time.DateTime), g.GrantedBy, g.Purpose)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c, closeFn, err := conn.control(newLogger(stderr, false))
	if err != nil {
		return err
	}
	defer closeFn()
	pending, err := c.PendingAccess(ctx, ref)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PENDING REQUEST\tPRODUCT\tREQUESTER\tSTARTED")
	for _, r := range pending {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.WorkflowID, r.Product, r.Requester, r.Start.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func grantState(g access.Grant, now time.Time) string {
	switch {
	case g.Active(now):
		return "active"
	case !g.RevokedAt.IsZero() && g.Reason == "expired":
		return "expired"
	case !g.RevokedAt.IsZero():
		return "revoked by " + g.RevokedBy
	default:
		return "expired"
	}
}

func accessRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := accessFlags("revoke", "revoke [flags] <grant-id | workflow-id>\n\nEnds a grant before it expires.", stderr)
	var conn connFlags
	conn.register(fs)
	var sf storeFlags
	sf.register(fs)
	var actor actorFlags
	actor.register(fs, "who revokes (the grantee, an owner team member or a steward)")
	reason := fs.String("reason", "", "why")
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	target, err := oneArg(fs, "grant ID or workflow ID")
	if err != nil {
		return err
	}
	srv, err := actor.client()
	if err != nil {
		return err
	}
	id := target
	if !strings.HasPrefix(target, "access/") {
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		g, err := grants.Find(ctx, st, target)
		if err != nil {
			return err
		}
		id = g.WorkflowID
	}
	st, err := srv.RevokeAccess(ctx, api.RevocationBody{WorkflowID: id, Reason: *reason})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", id, err)
	}
	fmt.Fprintf(stdout, "%s for %s: %s\n", st.Request.Product, st.Request.Requester, st.Stage)
	return nil
}

func accessPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := accessFlags("policy", "policy [flags] [<domain>/<product>]\n\nPrints the active grants as an S3 bucket policy.", stderr)
	var sf storeFlags
	sf.register(fs)
	bucket := fs.String("bucket", "", "the production bucket the products are published to")
	prefix := fs.String("prefix", "", "the key prefix of the products in the bucket")
	arnTemplate := fs.String("principal-arn-template", envOr("MESHFLOW_PRINCIPAL_ARN_TEMPLATE", ""),
		`IAM ARN of a principal, with {principal} for its name, e.g. "arn:aws:iam::123456789012:role/{principal}"`)
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	ref, err := optionalProduct(fs)
	if err != nil {
		return err
	}
	switch {
	case *bucket == "":
		return errors.New("name the bucket with --bucket")
	case !strings.Contains(*arnTemplate, "{principal}"):
		return errors.New(`say how principals map to IAM ARNs with --principal-arn-template "arn:aws:iam::<account>:role/{principal}"`)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	all, err := grants.List(ctx, st, ref)
	if err != nil {
		return err
	}
	now := time.Now()
	var active []access.Grant
	for _, g := range all {
		if g.Active(now) {
			active = append(active, g)
		}
	}
	b, err := access.S3Policy(active, *bucket, *prefix, func(p string) string { return strings.ReplaceAll(*arnTemplate, "{principal}", p) })
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}

// optionalProduct returns the product argument of a command that takes at most one.
func optionalProduct(fs *flag.FlagSet) (string, error) {
	if fs.NArg() > 1 {
		return "", fmt.Errorf("give at most one product as <domain>/<product> (got %d arguments)", fs.NArg())
	}
	return fs.Arg(0), nil
}
