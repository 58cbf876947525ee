package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/meshflow/meshflow/serve"
)

// tokenOrEnv returns the --token flag, else $MESHFLOW_TOKEN. The token is not the
// flag's default, so that -h never prints it.
func tokenOrEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("MESHFLOW_TOKEN")
}

// decideViaServer delivers a decision through meshflow serve's API: the server
// names the principal from the token, and the run's validator decides whether
// that principal may decide.
func decideViaServer(ctx context.Context, server, token, as, verb string, approve bool, ref, workflowID, comment string, stdout io.Writer) error {
	if token == "" {
		return errors.New("--server needs an API token: pass --token or set MESHFLOW_TOKEN (make one with meshflow token new <principal>)")
	}
	if as != "" {
		return errors.New("--as is for talking to Temporal directly (dev); with --server you decide as the principal your token names: drop --as")
	}
	c := &serve.Client{BaseURL: server, Token: token}
	var target serve.Pending
	if workflowID != "" {
		run, err := c.Run(ctx, workflowID)
		if err != nil {
			return fmt.Errorf("read run %s: %w", workflowID, err)
		}
		target = run
	} else {
		pending, err := c.Approvals(ctx, ref)
		if err != nil {
			return fmt.Errorf("list runs of %s waiting for you: %w", ref, err)
		}
		switch len(pending) {
		case 0:
			return fmt.Errorf("no run of %s waits for your approval", ref)
		case 1:
			target = pending[0]
		default:
			var ids []string
			for _, p := range pending {
				ids = append(ids, p.WorkflowID)
			}
			return fmt.Errorf("%s: %d runs wait for your approval (%s); name one with --run", ref, len(ids), strings.Join(ids, ", "))
		}
	}
	if target.Status.Product != "" && target.Status.Product != ref {
		return fmt.Errorf("run %s refreshes %s, not %s", target.WorkflowID, target.Status.Product, ref)
	}
	d, err := c.Decide(ctx, serve.DecisionRequest{WorkflowID: target.WorkflowID, Approve: approve, Comment: comment, ManifestHash: target.Status.ManifestHash})
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, target.WorkflowID, err)
	}
	fmt.Fprintf(stdout, "%s: %s by %s recorded for manifest %s\n", d.Status.Product, verb, d.Principal, target.Status.ManifestHash)
	return nil
}
