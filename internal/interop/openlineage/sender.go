package openlineage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Sender sends the outbox's events, each run's in seq order, and deletes each
// once its receiver took it. It never touches a run: a receiver that is down
// only makes events wait in the store.
type Sender struct {
	Store     storage.Store
	Transport Transport
	// Holder names this sender in the lease (default: host and process id).
	Holder string
	// Poll is how often the outbox is read (default 2s); LeaseTTL how long a
	// lease lasts without renewal (default 30s).
	Poll, LeaseTTL time.Duration
	// MaxBackoff bounds the wait after a failed send (default 1m).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// now is the clock, for tests.
	now func() time.Time
}

func (s *Sender) defaults() {
	if s.Holder == "" {
		host, _ := os.Hostname()
		s.Holder = fmt.Sprintf("%s/%d/%p", host, os.Getpid(), s)
	}
	if s.Poll <= 0 {
		s.Poll = 2 * time.Second
	}
	if s.LeaseTTL <= 0 {
		s.LeaseTTL = 30 * time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
}

// Run sends until ctx ends. It returns nil when ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	s.defaults()
	backoff := time.Duration(0)
	for {
		wait := s.Poll
		n, err := s.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, s.Poll), s.MaxBackoff)
			wait = backoff
			s.Logger.Warn("openlineage: events wait in the outbox", "error", err, "retryIn", wait)
		default:
			backoff = 0
			if n > 0 {
				s.Logger.Debug("openlineage: sent events", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Once sends what the outbox holds, if this sender holds the lease, and
// returns how many events it sent. It stops at the first event that cannot be
// sent, so that no later event of any run overtakes it.
func (s *Sender) Once(ctx context.Context) (int, error) {
	s.defaults()
	ok, err := s.lease(ctx)
	if err != nil || !ok {
		return 0, err
	}
	objs, err := s.Store.List(ctx, layout.LineageOutboxPrefix)
	if err != nil {
		return 0, fmt.Errorf("list the lineage outbox: %w", err)
	}
	sent := 0
	deadline := s.now().Add(s.LeaseTTL / 2)
	for _, o := range objs {
		runID, seq, ok := layout.LineageOfOutboxKey(o.Key)
		if !ok {
			continue
		}
		if s.now().After(deadline) {
			// Renew before going on, so that the lease cannot lapse mid-send.
			if ok, err := s.lease(ctx); err != nil || !ok {
				return sent, err
			}
			deadline = s.now().Add(s.LeaseTTL / 2)
		}
		if err := s.send(ctx, o.Key, runID, seq); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// send delivers one event, marks it sent and deletes it from the outbox.
func (s *Sender) send(ctx context.Context, key, runID string, seq int) error {
	r, _, err := s.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // sent by a previous holder of the lease
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	body, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	sentKey := layout.LineageSentKey(runID, seq)
	if _, err := s.Store.Head(ctx, sentKey); errors.Is(err, storage.ErrNotFound) {
		if err := s.Transport.Send(ctx, body); errors.Is(err, ErrRejected) {
			// The receiver will never take it: keep it aside and go on, so the
			// run's later events are not held back for ever.
			s.Logger.Error("openlineage: receiver rejected an event; kept under _lineage/rejected", "run", runID, "seq", seq, "error", err)
			if _, err := s.Store.Put(ctx, layout.LineageRejectedKey(runID, seq), bytes.NewReader(body), storage.PutOptions{}); err != nil {
				return fmt.Errorf("keep rejected event %s: %w", key, err)
			}
		} else if err != nil {
			return err
		}
		if _, err := s.Store.Put(ctx, sentKey, bytes.NewReader(nil), storage.PutOptions{}); err != nil {
			return fmt.Errorf("mark %s sent: %w", key, err)
		}
	} else if err != nil {
		return fmt.Errorf("read %s: %w", sentKey, err)
	}
	// else: sent before a crash, between the send and the delete.
	if err := s.Store.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if seq == SeqEnd {
		// The run is over: no activity of it writes an event again, so its
		// markers may go.
		marks, err := s.Store.List(ctx, layout.LineageSentPrefix(runID))
		if err != nil {
			return fmt.Errorf("list sent markers of %s: %w", runID, err)
		}
		for _, m := range marks {
			if err := s.Store.Delete(ctx, m.Key); err != nil {
				return fmt.Errorf("delete %s: %w", m.Key, err)
			}
		}
	}
	return nil
}

// leaseDoc is the content of the lease object.
type leaseDoc struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// lease takes or renews the lease; ok is false while another sender holds an
// unexpired one. Every write is conditional (create-only, or If-Match on the
// ETag read), so two senders cannot both win a race for it.
func (s *Sender) lease(ctx context.Context) (bool, error) {
	now := s.now()
	doc, _ := json.Marshal(leaseDoc{Holder: s.Holder, Expires: now.Add(s.LeaseTTL).UTC()})
	r, obj, err := s.Store.Get(ctx, layout.LineageLeaseKey)
	opts := storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("read the lineage lease: %w", err)
	default:
		var cur leaseDoc
		derr := json.NewDecoder(r).Decode(&cur)
		if cerr := r.Close(); derr == nil {
			derr = cerr
		}
		if derr == nil && cur.Holder != s.Holder && now.Before(cur.Expires) {
			return false, nil
		}
		opts = storage.PutOptions{IfMatch: obj.ETag, ContentType: "application/json"}
	}
	if _, err := s.Store.Put(ctx, layout.LineageLeaseKey, bytes.NewReader(doc), opts); errors.Is(err, storage.ErrPreconditionFailed) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("write the lineage lease: %w", err)
	}
	return true, nil
}
