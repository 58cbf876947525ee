package notify

import (
	"context"
	"errors"
	"sync"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// RevisionRoutes returns a Sender's Routes: the notifications of the store's
// current mesh revision, each revision read once. A store without a mesh has
// none.
func RevisionRoutes(st storage.Store) func(ctx context.Context) ([]spec.Notification, error) {
	var (
		mu     sync.Mutex
		id     string
		routes []spec.Notification
	)
	return func(ctx context.Context) ([]spec.Notification, error) {
		p, err := meshrev.Current(ctx, st)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		if p.Revision == id {
			return routes, nil
		}
		rev, rid, err := meshrev.Load(ctx, st, p.Revision)
		if err != nil {
			return nil, err
		}
		id, routes = rid, rev.Notifications
		return routes, nil
	}
}
