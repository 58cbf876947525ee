package activities

import (
	"context"
	"errors"
	"os"

	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"

	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// LatestManifest returns the product's latest published manifest, if any.
func (a *Activities) LatestManifest(ctx context.Context, in refresh.LatestInput) (refresh.LatestResult, error) {
	head, found, err := catalog.ReadLatest(ctx, a.Store, in.Ref)
	return refresh.LatestResult{Found: found, Manifest: head.Manifest}, err
}

// InputsPublished lists the product inputs of a product that have no published
// version yet.
func (a *Activities) InputsPublished(ctx context.Context, in refresh.InputsPublishedInput) (refresh.InputsPublishedResult, error) {
	res := refresh.InputsPublishedResult{Missing: []string{}, Versions: map[string]string{}}
	for _, input := range in.Product.Inputs {
		if input.Product == "" {
			continue
		}
		head, found, err := catalog.ReadLatest(ctx, a.Store, input.Product)
		if err != nil {
			return res, err
		}
		if !found {
			res.Missing = append(res.Missing, input.Product)
			continue
		}
		res.Versions[input.Product] = head.Pointer.Version
	}
	return res, nil
}

// Publish promotes a run's staged output to an immutable version and moves the
// product's latest pointer to it, by package publish's claim and commit
// protocol. A lost race ends the run with ErrVersionTaken; a published version
// that cannot be counted on from, with ErrBadSpec. It first checks the
// publication as the workflow should have (checkPublish): a manifest that is
// not what the run's checks staged, or lacks its route's proven sign-off,
// ends the run with ErrUnauthorized.
func (a *Activities) Publish(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
	if err := a.checkPublish(ctx, in); err != nil {
		return refresh.PublishResult{}, err
	}
	p := publish.Publisher{Store: a.Store, Scratch: a.Scratch, StaleClaimAfter: a.StaleClaimAfter, Logger: a.logger(),
		Progress: func(detail string) { activity.RecordHeartbeat(ctx, detail) }}
	res, err := p.Publish(ctx, in)
	var taken *publish.VersionTakenError
	var bad *publish.BadVersionError
	switch {
	case errors.As(err, &taken):
		return res, temporal.NewNonRetryableApplicationError(taken.Error(), refresh.ErrVersionTaken, nil)
	case errors.As(err, &bad):
		return res, temporal.NewNonRetryableApplicationError(bad.Error(), refresh.ErrBadSpec, nil)
	case err == nil:
		a.notifyPublished(ctx, in, res)
	}
	return res, err
}

// CleanupStaging deletes a run's staging objects and scratch files, after it
// leaves the run's last OpenLineage event and notification in the outboxes.
func (a *Activities) CleanupStaging(ctx context.Context, in refresh.CleanupInput) error {
	if err := a.checkCaller(ctx, in.RunID); err != nil {
		return err
	}
	// The run's own staging goes whatever it names; what it says of its
	// product (metrics, the notification, the lineage event) only when this
	// worker serves the product, so that no run speaks for another domain's.
	if _, err := a.resolveFor(ctx, "", in.Ref, in.RunID); err == nil {
		a.runEnded(ctx, in)
		a.notifyEnd(ctx, in)
		if err := a.lineageEnd(ctx, in); err != nil {
			return err
		}
	} else {
		a.logger().Warn("a run's end is not told: the run does not speak for its product", "product", in.Ref, "run", in.RunID, "error", err)
	}
	objs, err := a.Store.List(ctx, layout.StagingPrefix(in.Ref, in.RunID)+"/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := a.Store.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	if err := a.removeUnpublishedPartitions(ctx, in); err != nil {
		return err
	}
	return os.RemoveAll(a.scratchDir(in.RunID))
}

// removeUnpublishedPartitions deletes the partition objects a run built when it
// ended without publishing them (failed, rejected, expired): no version names
// them. A published run's objects stay; gc removes them once no retained
// version names them.
func (a *Activities) removeUnpublishedPartitions(ctx context.Context, in refresh.CleanupInput) error {
	if in.Stage == refresh.StagePublished || in.Stage == "" {
		return nil
	}
	objs, err := a.Store.List(ctx, layout.PartitionsPrefix(in.Ref))
	if err != nil || len(objs) == 0 {
		return err
	}
	if head, found, err := catalog.ReadLatest(ctx, a.Store, in.Ref); err != nil {
		return err
	} else if found && head.Manifest.RunID == in.RunID {
		return nil // published after all: its objects are named
	}
	for _, o := range objs {
		if run, ok := layout.RunOfPartitionKey(in.Ref, o.Key); ok && run == in.RunID {
			if err := a.Store.Delete(ctx, o.Key); err != nil {
				return err
			}
		}
	}
	return nil
}
