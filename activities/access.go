package activities

import (
	"context"
	"errors"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
)

// RecordGrant writes a new grant object. A retry finds its own grant and returns
// it; a bad grant, or an ID held by another request's grant, is not retried.
//
// Only the access request the grant proves may record it: the grant must be
// named after the run that scheduled this activity, carry an approval that
// meshflow serve signed for that request (meshrev.VerifyGrant), and be the
// only grant of its request, so that a revoked grant's approval cannot be
// recorded again under another run.
func (a *Activities) RecordGrant(ctx context.Context, in access.RecordInput) (access.Grant, error) {
	if err := a.checkGrantRecord(ctx, in.Grant); err != nil {
		return in.Grant, err
	}
	g, err := grants.Record(ctx, a.Store, in.Grant)
	if errors.Is(err, grants.ErrInvalid) || errors.Is(err, grants.ErrConflict) {
		return g, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, err)
	}
	if err == nil {
		a.logger().Info("access granted", "grant", g.ID, "product", g.Product, "principal", g.Principal, "expires", g.ExpiresAt)
		a.notifyAccessGranted(ctx, g)
	}
	return g, err
}

// RevokeGrant marks a grant revoked. Revoking a revoked grant returns it
// unchanged, so a retry is harmless; a grant that does not exist is not retried.
//
// Only the access request that recorded the grant may revoke it.
func (a *Activities) RevokeGrant(ctx context.Context, in access.RevokeInput) (access.Grant, error) {
	cur, err := grants.Find(ctx, a.Store, in.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return cur, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, err)
	}
	if err != nil {
		return cur, err
	}
	if scheduler := a.scheduledBy(ctx).WorkflowExecution.ID; cur.WorkflowID != scheduler || cur.Product != in.Product {
		return cur, unauthorized("grant %s of %s was recorded by %s, not by %s", cur.ID, cur.Product, cur.WorkflowID, scheduler)
	}
	g, err := grants.Revoke(ctx, a.Store, in.Product, in.ID, in.By, in.Reason, in.At)
	if errors.Is(err, storage.ErrNotFound) {
		return g, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, err)
	}
	if err == nil {
		a.logger().Info("access revoked", "grant", g.ID, "product", g.Product, "principal", g.Principal, "by", g.RevokedBy, "reason", g.Reason)
	}
	return g, err
}

// checkGrantRecord refuses a grant that the scheduling run may not record.
func (a *Activities) checkGrantRecord(ctx context.Context, g access.Grant) error {
	run := a.scheduledBy(ctx).WorkflowExecution
	switch {
	case g.WorkflowID != run.ID:
		return unauthorized("grant %s names access request %s, but %s scheduled it", g.ID, g.WorkflowID, run.ID)
	case g.ID != access.GrantID(run.ID, run.RunID):
		return unauthorized("grant %s is not named after run %s of %s", g.ID, run.RunID, run.ID)
	}
	if err := meshrev.VerifyGrant(ctx, a.Store, g); err != nil {
		return unauthorized("%v", err)
	}
	others, err := grants.List(ctx, a.Store, g.Product)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for _, o := range others {
		if o.WorkflowID == g.WorkflowID && o.ID != g.ID {
			return unauthorized("access request %s recorded grant %s already; its approval proves one grant", g.WorkflowID, o.ID)
		}
	}
	return nil
}
