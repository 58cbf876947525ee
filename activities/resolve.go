package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/temporal"
)

// ResolveProduct reads a product from a mesh revision in the store: its spec,
// contract, governance, consumers and task queue, the mesh's policies and the
// keys that prove decisions. A run starts with it, so that nothing in the
// run's input decides what it does or who approves it. A revision or product
// that does not exist ends the run.
func (a *Activities) ResolveProduct(ctx context.Context, in refresh.ResolveInput) (refresh.Resolved, error) {
	rev, id, err := meshrev.Load(ctx, a.Store, in.Revision)
	if err == nil {
		var res refresh.Resolved
		if res, err = rev.Resolve(id, in.Ref); err == nil {
			return res, nil
		}
	}
	if errors.Is(err, meshrev.ErrNoRevision) {
		return refresh.Resolved{}, temporal.NewNonRetryableApplicationError(err.Error(), refresh.ErrNoRevision, nil)
	}
	return refresh.Resolved{}, err
}

// ResolveAccess reads a product's owner, access approvers and task queue from a
// mesh revision, for an AccessRequest.
func (a *Activities) ResolveAccess(ctx context.Context, in access.ResolveInput) (access.Resolved, error) {
	rev, id, err := meshrev.Load(ctx, a.Store, in.Revision)
	if err == nil {
		p, ok := rev.Products[in.Product]
		if ok {
			res := access.Resolved{Revision: id, Owner: p.Owner, Approvers: rev.AccessApprovers[in.Product], TaskQueue: p.TaskQueue, Keys: rev.Keys}
			for _, c := range p.Consumers {
				if cp, ok := rev.Products[c]; ok && cp.Domain != p.Domain && !slices.Contains(res.ConsumerOwners, cp.Owner) {
					res.ConsumerOwners = append(res.ConsumerOwners, cp.Owner)
				}
			}
			// Only the request itself tells of it, not anyone reading
			// the product's approvers.
			if strings.HasPrefix(a.scheduledBy(ctx).WorkflowExecution.ID, access.WorkflowID(in.Product, in.Requester, "")) {
				a.notifyAccessRequested(ctx, in, res)
			}
			return res, nil
		}
		err = fmt.Errorf("%w: mesh revision %s has no product %s", meshrev.ErrNoRevision, meshrev.Short(id), in.Product)
	}
	if errors.Is(err, meshrev.ErrNoRevision) {
		return access.Resolved{}, temporal.NewNonRetryableApplicationError(err.Error(), access.ErrBadRequest, nil)
	}
	return access.Resolved{}, err
}

// AccessGranted lists the inputs of a product that its owner team may not read
// yet: restricted products of other domains for which the team holds no
// proven, active grant. The producers' task queues come from the revision, so
// that the run can file access requests there.
func (a *Activities) AccessGranted(ctx context.Context, in refresh.AccessGrantedInput) (refresh.AccessGrantedResult, error) {
	var res refresh.AccessGrantedResult
	var rev meshrev.Revision
	for _, input := range in.Product.Inputs {
		if !input.NeedsGrant(in.Product.Domain) {
			continue
		}
		_, ok, err := grants.Check(ctx, a.Store, in.Product.Owner, input.Product, time.Now())
		if err != nil {
			return res, err
		}
		if ok {
			continue
		}
		if rev.Products == nil {
			if rev, _, err = meshrev.Load(ctx, a.Store, in.Revision); err != nil {
				return res, err
			}
		}
		res.Missing = append(res.Missing, refresh.MissingGrant{Product: input.Product, TaskQueue: rev.Products[input.Product].TaskQueue})
	}
	return res, nil
}
