package openlineage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/meshflow/meshflow/internal/interop/outbox"
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
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("lineage outbox %s: %w", layout.LineageOutboxKey(runID, seq), err)
	}
	if err := outbox.Write(ctx, o.Store, layout.LineageOutbox, runID, seq, b); err != nil {
		return fmt.Errorf("lineage %w", err)
	}
	return nil
}
