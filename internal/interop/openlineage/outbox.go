package openlineage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Outbox is where activities leave a run's events for the Sender.
type Outbox struct {
	Store storage.Store
}

// Write leaves ev as the run's event number seq. The write is create-only and
// skipped when the event was already sent, so a retried activity neither
// replaces nor repeats an event: the first attempt's event stands.
func (o Outbox) Write(ctx context.Context, runID string, seq int, ev RunEvent) error {
	key := layout.LineageOutboxKey(runID, seq)
	if _, err := o.Store.Head(ctx, layout.LineageSentKey(runID, seq)); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("lineage outbox %s: %w", key, err)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("lineage outbox %s: %w", key, err)
	}
	_, err = o.Store.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err != nil && !errors.Is(err, storage.ErrPreconditionFailed) {
		return fmt.Errorf("lineage outbox %s: %w", key, err)
	}
	return nil
}
