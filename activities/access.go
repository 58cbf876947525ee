package activities

import (
	"context"
	"errors"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
)

// RecordGrant writes a new grant object. A retry finds its own grant and returns
// it; a bad grant, or an ID held by another request's grant, is not retried.
func (a *Activities) RecordGrant(ctx context.Context, in access.RecordInput) (access.Grant, error) {
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
func (a *Activities) RevokeGrant(ctx context.Context, in access.RevokeInput) (access.Grant, error) {
	g, err := grants.Revoke(ctx, a.Store, in.Product, in.ID, in.By, in.Reason, in.At)
	if errors.Is(err, storage.ErrNotFound) {
		return g, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, err)
	}
	if err == nil {
		a.logger().Info("access revoked", "grant", g.ID, "product", g.Product, "principal", g.Principal, "by", g.RevokedBy, "reason", g.Reason)
	}
	return g, err
}
