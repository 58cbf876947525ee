package meshrev

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
)

// ErrUnproven reports a grant or an approval whose signature does not prove it.
var ErrUnproven = errors.New("not proven")

// VerifyGrant checks that a grant was approved by one of the product's access
// approvers in the revision it names, with a decision signed by meshflow
// serve: a grant file written by anyone else (a forged grant) fails. The
// signature's expiry is not checked; it bounded when the decision could be
// sent, not how long it proves it.
func VerifyGrant(ctx context.Context, st Getter, g access.Grant) error {
	if g.Proof == nil || g.Revision == "" {
		return fmt.Errorf("grant %s: %w: it carries no signed approval", g.ID, ErrUnproven)
	}
	// The approver signed a decision on one access request, whose workflow ID
	// names the product and the requester: the grant must be that request's.
	if !strings.HasPrefix(g.WorkflowID, access.WorkflowID(g.Product, g.Principal, "")) {
		return fmt.Errorf("grant %s: %w: it names access request %s, which is not %s's request for %s", g.ID, ErrUnproven, g.WorkflowID, g.Principal, g.Product)
	}
	rev, id, err := Load(ctx, st, g.Revision)
	if err != nil {
		return fmt.Errorf("grant %s: %w", g.ID, err)
	}
	if !slices.Contains(rev.AccessApprovers[g.Product], g.GrantedBy) || g.GrantedBy == g.Principal {
		return fmt.Errorf("grant %s: %w: %s may not approve access to %s in mesh revision %s", g.ID, ErrUnproven, g.GrantedBy, g.Product, Short(id))
	}
	if err := signing.Verify(rev.Keys, g.Statement(), *g.Proof, timeZero); err != nil {
		return fmt.Errorf("grant %s: %w: %w", g.ID, ErrUnproven, err)
	}
	// The approval covers the grant's length; its time must be when the
	// approval was signed, so a grant cannot be moved to another time.
	if g.GrantedAt.Before(g.Proof.Expires.Add(-signing.DefaultTTL-grantSkew)) || g.GrantedAt.After(g.Proof.Expires.Add(grantSkew)) {
		return fmt.Errorf("grant %s: %w: granted at %s, but approved for use until %s", g.ID, ErrUnproven,
			g.GrantedAt.UTC().Format(time.RFC3339), g.Proof.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// grantSkew is how far a grant's time may lie from its approval's window: the
// clocks of serve and of the workflow differ a little, and a decision that
// arrives before the request knows its approvers waits a moment.
const grantSkew = 2 * time.Minute

// VerifyApprovals checks every approval of a manifest resolved from a mesh
// revision: each carries serve's signature of exactly that decision on that
// run. It returns one error per approval that fails; manifests published
// before mesh revisions (no MeshRevision) have nothing to check.
func VerifyApprovals(ctx context.Context, st Getter, m refresh.Manifest) []error {
	if m.MeshRevision == "" {
		return nil
	}
	rev, _, err := Load(ctx, st, m.MeshRevision)
	if err != nil {
		return []error{err}
	}
	var errs []error
	p, ok := rev.Products[m.Product]
	if !ok {
		return []error{fmt.Errorf("%w: mesh revision %s has no product %s", ErrUnproven, Short(m.MeshRevision), m.Product)}
	}
	// Who may have approved: the product's stewards and escalation principals,
	// and the stewards of its consumers (for a breaking change).
	approvers := append(slices.Clone(p.Governance.Stewards), p.Governance.EscalateTo...)
	for _, c := range p.Consumers {
		approvers = append(approvers, rev.Products[c].Governance.Stewards...)
	}
	for _, a := range m.Approvals {
		if !slices.Contains(approvers, a.Principal) || a.Principal == m.Submitter {
			errs = append(errs, fmt.Errorf("the %s of %s: %w: %s may not approve %s in mesh revision %s", a.Decision, a.Principal, ErrUnproven, a.Principal, m.Product, Short(m.MeshRevision)))
			continue
		}
		if a.Proof == nil {
			errs = append(errs, fmt.Errorf("the %s of %s: %w: no signature", a.Decision, a.Principal, ErrUnproven))
			continue
		}
		st := refresh.DecisionStatement(m.WorkflowID, m.Product, a.Principal, a.Decision == refresh.Approve, a.Comment, a.ManifestHash)
		if err := signing.Verify(rev.Keys, st, *a.Proof, timeZero); err != nil {
			errs = append(errs, fmt.Errorf("the %s of %s: %w: %w", a.Decision, a.Principal, ErrUnproven, err))
		}
	}
	return errs
}

// timeZero makes signing.Verify skip the expiry check.
var timeZero time.Time
