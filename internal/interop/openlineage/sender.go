package openlineage

import (
	"context"
	"log/slog"
	"time"

	"github.com/meshflow/meshflow/internal/interop/outbox"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Sender sends the outbox's events, each run's in seq order, and deletes each
// once its receiver took it (an ordered outbox.Sender). It never touches a
// run: a receiver that is down only makes events wait in the store.
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
	out *outbox.Sender
}

// outbox is the sender that does the work, made once so that its lease
// holder stays the same.
func (s *Sender) outbox() *outbox.Sender {
	if s.out != nil {
		s.out.Now = s.now
		return s.out
	}
	s.out = &outbox.Sender{Store: s.Store, Box: layout.LineageOutbox, Ordered: true, Name: "openlineage",
		Deliver: func(ctx context.Context, ev outbox.Event) error { return s.Transport.Send(ctx, ev.Body) },
		Last:    func(seq int) bool { return seq == SeqEnd },
		Holder:  s.Holder, Poll: s.Poll, LeaseTTL: s.LeaseTTL, MaxBackoff: s.MaxBackoff, Logger: s.Logger, Now: s.now}
	return s.out
}

// Run sends until ctx ends. It returns nil when ctx ends.
func (s *Sender) Run(ctx context.Context) error { return s.outbox().Run(ctx) }

// Once sends what the outbox holds, if this sender holds the lease, and
// returns how many events it sent. It stops at the first event that cannot be
// sent, so that no later event of any run overtakes it.
func (s *Sender) Once(ctx context.Context) (int, error) { return s.outbox().Once(ctx) }
