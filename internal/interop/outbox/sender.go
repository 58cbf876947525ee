package outbox

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

// ErrRejected marks an event its receiver refused for good: retrying will not
// help. The Sender keeps it under <root>/rejected/ and goes on.
var ErrRejected = errors.New("event rejected")

// ErrWait is what Deliver returns to keep an event for a later pass without
// counting it as a failure (an unordered Sender only).
var ErrWait = errors.New("event waits")

// Event is one event of the outbox as Deliver gets it.
type Event struct {
	RunID string
	Seq   int
	Body  []byte
}

// Sender delivers the outbox's events and deletes each once delivered. It never
// touches a run: a receiver that is down only makes events wait in the store.
type Sender struct {
	Store storage.Store
	Box   layout.Outbox
	// Deliver delivers one event. An error wrapping ErrRejected sets the event
	// aside; ErrWait keeps it for a later pass; any other error is a failure.
	Deliver func(ctx context.Context, ev Event) error
	// Last says whether seq is a run's last event: once it is sent, the run's
	// sent markers go (nil: markers stay).
	Last func(seq int) bool
	// Ordered stops a pass at the first event that fails, so that no later
	// event overtakes it; otherwise the pass goes on with the next event.
	Ordered bool
	// Name names the outbox in logs ("openlineage", "notify").
	Name string
	// Holder names this sender in the lease (default: host and process id).
	Holder string
	// Poll is how often the outbox is read (default 2s); LeaseTTL how long a
	// lease lasts without renewal (default 30s).
	Poll, LeaseTTL time.Duration
	// MaxBackoff bounds the wait after a failed pass (default 1m).
	MaxBackoff time.Duration
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
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
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Name == "" {
		s.Name = s.Box.Root
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
			s.Logger.Warn(s.Name+": events wait in the outbox", "error", err, "retryIn", wait)
		default:
			backoff = 0
			if n > 0 {
				s.Logger.Debug(s.Name+": sent events", "count", n)
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
// returns how many events it sent. An ordered sender stops at the first event
// that cannot be sent; an unordered one returns the first failure after the
// pass.
func (s *Sender) Once(ctx context.Context) (int, error) {
	s.defaults()
	ok, err := s.lease(ctx)
	if err != nil || !ok {
		return 0, err
	}
	objs, err := s.Store.List(ctx, s.Box.Prefix())
	if err != nil {
		return 0, fmt.Errorf("list the %s outbox: %w", s.Name, err)
	}
	sent := 0
	var failed error
	deadline := s.Now().Add(s.LeaseTTL / 2)
	for _, o := range objs {
		runID, seq, ok := s.Box.Parse(o.Key)
		if !ok {
			continue
		}
		if s.Now().After(deadline) {
			// Renew before going on, so that the lease cannot lapse mid-send.
			if ok, err := s.lease(ctx); err != nil || !ok {
				return sent, err
			}
			deadline = s.Now().Add(s.LeaseTTL / 2)
		}
		done, err := s.send(ctx, o.Key, runID, seq)
		switch {
		case err != nil && (s.Ordered || ctx.Err() != nil):
			return sent, err
		case err != nil:
			if failed == nil {
				failed = err
			}
		case done:
			sent++
		}
	}
	return sent, failed
}

// send delivers one event, marks it sent and deletes it from the outbox; done
// is false when the event waits.
func (s *Sender) send(ctx context.Context, key, runID string, seq int) (done bool, err error) {
	r, _, err := s.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil // sent by a previous holder of the lease
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	body, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	sentKey := s.Box.SentKey(runID, seq)
	if _, err := s.Store.Head(ctx, sentKey); errors.Is(err, storage.ErrNotFound) {
		if err := s.Deliver(ctx, Event{RunID: runID, Seq: seq, Body: body}); errors.Is(err, ErrRejected) {
			// The receiver will never take it: keep it aside and go on, so the
			// run's later events are not held back for ever.
			s.Logger.Error(s.Name+": receiver rejected an event; kept under "+s.Box.Root+"/rejected", "run", runID, "seq", seq, "error", err)
			if _, err := s.Store.Put(ctx, s.Box.RejectedKey(runID, seq), bytes.NewReader(body), storage.PutOptions{}); err != nil {
				return false, fmt.Errorf("keep rejected event %s: %w", key, err)
			}
		} else if errors.Is(err, ErrWait) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if _, err := s.Store.Put(ctx, sentKey, bytes.NewReader(nil), storage.PutOptions{}); err != nil {
			return false, fmt.Errorf("mark %s sent: %w", key, err)
		}
	} else if err != nil {
		return false, fmt.Errorf("read %s: %w", sentKey, err)
	}
	// else: sent before a crash, between the send and the delete.
	if err := s.Store.Delete(ctx, key); err != nil {
		return false, fmt.Errorf("delete %s: %w", key, err)
	}
	if s.Last != nil && s.Last(seq) {
		// The run is over: no activity of it writes an event again, so its
		// markers may go.
		marks, err := s.Store.List(ctx, s.Box.SentPrefix(runID))
		if err != nil {
			return true, fmt.Errorf("list sent markers of %s: %w", runID, err)
		}
		for _, m := range marks {
			if err := s.Store.Delete(ctx, m.Key); err != nil {
				return true, fmt.Errorf("delete %s: %w", m.Key, err)
			}
		}
	}
	return true, nil
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
	now := s.Now()
	key := s.Box.LeaseKey()
	doc, _ := json.Marshal(leaseDoc{Holder: s.Holder, Expires: now.Add(s.LeaseTTL).UTC()})
	r, obj, err := s.Store.Get(ctx, key)
	opts := storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"}
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("read the %s lease: %w", s.Name, err)
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
	if _, err := s.Store.Put(ctx, key, bytes.NewReader(doc), opts); errors.Is(err, storage.ErrPreconditionFailed) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("write the %s lease: %w", s.Name, err)
	}
	return true, nil
}
