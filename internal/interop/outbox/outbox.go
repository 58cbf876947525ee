package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Write leaves body as the run's event number seq in box. The write is
// create-only and skipped when the event was already sent, so a retried
// activity neither replaces nor repeats an event: the first attempt's event
// stands.
func Write(ctx context.Context, st storage.Store, box layout.Outbox, runID string, seq int, body []byte) error {
	key := box.Key(runID, seq)
	if _, err := st.Head(ctx, box.SentKey(runID, seq)); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("outbox %s: %w", key, err)
	}
	_, err := st.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
	if err != nil && !errors.Is(err, storage.ErrPreconditionFailed) {
		return fmt.Errorf("outbox %s: %w", key, err)
	}
	return nil
}
