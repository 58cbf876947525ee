package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/interop/outbox"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Mailer sends one e-mail message; *SMTP is one.
type Mailer interface {
	Send(ctx context.Context, to []string, msg []byte) error
}

// Sender delivers the notifications' outbox to the channels that
// mesh.yaml routes each event to. Every channel of an event is tried on its
// own, with exponential backoff, at most MaxAttempts times; then the event is
// kept as that channel's dead letter. A channel that is down never holds back
// another channel or another event.
type Sender struct {
	Store storage.Store
	// Routes returns the notifications of the current mesh revision.
	Routes func(ctx context.Context) ([]spec.Notification, error)
	// PublicURL is where meshflow serve (or dev) is reached: links to inbox
	// items and product pages start with it. Empty: events carry no link.
	PublicURL string
	Webhook   Webhook
	// Mail sends e-mail; nil fails e-mail channels with ErrNoSMTP.
	Mail Mailer
	// From is the sender address of e-mail (default meshflow@localhost).
	From string
	// File, when set, gets every event as a JSON line too (meshflow dev).
	File *outbox.File
	// MaxAttempts bounds the tries of one channel (default 8); Backoff is the
	// wait after the first failure (default 5s), doubled after each, up to
	// MaxBackoff (default 15m).
	MaxAttempts         int
	Backoff, MaxBackoff time.Duration
	// LateEvery is how often the products' freshness is checked for
	// product-late events (default 5m; negative: never).
	LateEvery time.Duration
	// Registerer, when set, gets the sender's metrics.
	Registerer prometheus.Registerer
	// Holder, Poll and LeaseTTL tune the outbox.Sender (see there).
	Holder         string
	Poll, LeaseTTL time.Duration
	Logger         *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time

	out     *outbox.Sender
	metrics *senderMetrics
}

type senderMetrics struct {
	sent, failed, dead *prometheus.CounterVec
}

func newSenderMetrics(reg prometheus.Registerer) *senderMetrics {
	f := promauto.With(reg)
	return &senderMetrics{
		sent: f.NewCounterVec(prometheus.CounterOpts{Name: "meshflow_notify_sent_total",
			Help: "Notifications a channel took, by channel (the name in mesh.yaml) and event."}, []string{"channel", "event"}),
		failed: f.NewCounterVec(prometheus.CounterOpts{Name: "meshflow_notify_send_failures_total",
			Help: "Failed tries to deliver a notification, by channel and event; each is retried with backoff."}, []string{"channel", "event"}),
		dead: f.NewCounterVec(prometheus.CounterOpts{Name: "meshflow_notify_dead_letters_total",
			Help: "Notifications a channel never took, kept under _notify/dead/, by channel and event."}, []string{"channel", "event"}),
	}
}

func (s *Sender) init() *outbox.Sender {
	if s.out != nil {
		return s.out
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 8
	}
	if s.Backoff <= 0 {
		s.Backoff = 5 * time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 15 * time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.From == "" {
		s.From = "meshflow@localhost"
	}
	s.metrics = newSenderMetrics(s.Registerer)
	s.out = &outbox.Sender{Store: s.Store, Box: layout.NotifyOutbox, Name: "notify", Deliver: s.deliver,
		Last:   func(seq int) bool { return seq == SeqEnd },
		Holder: s.Holder, Poll: s.Poll, LeaseTTL: s.LeaseTTL, Logger: s.Logger, Now: s.Now}
	return s.out
}

// Run delivers until ctx ends, and checks the products' freshness every
// LateEvery. It returns nil when ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	out := s.init()
	if s.LateEvery >= 0 {
		every := s.LateEvery
		if every == 0 {
			every = 5 * time.Minute
		}
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				if _, err := s.CheckLate(ctx); err != nil && ctx.Err() == nil {
					s.Logger.Warn("notify: cannot check whether products are late", "error", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return out.Run(ctx)
}

// Once makes one pass over the outbox and returns how many events are done
// (delivered to every channel, or dead).
func (s *Sender) Once(ctx context.Context) (int, error) { return s.init().Once(ctx) }

// channelState is how one channel's delivery of an event stands.
type channelState struct {
	Attempts  int       `json:"attempts"`
	Delivered bool      `json:"delivered,omitempty"`
	Dead      bool      `json:"dead,omitempty"`
	Next      time.Time `json:"next,omitzero"`
	LastError string    `json:"lastError,omitempty"`
}

// DeadLetter is what _notify/dead/<run>/<seq>/<channel>.json holds.
type DeadLetter struct {
	Channel   string    `json:"channel"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	At        time.Time `json:"at"`
	Event     Event     `json:"event"`
}

// fileChannel names the --notify-file sink in the delivery state.
const fileChannel = "_file"

// deliver delivers one event to every channel that takes it and has not yet,
// recording each channel's outcome in the event's state object, so that a
// channel gets an event at most once per sender pass that completes (at least
// once overall) and the sender knows which channels still wait.
func (s *Sender) deliver(ctx context.Context, oe outbox.Event) error {
	var ev Event
	if err := json.Unmarshal(oe.Body, &ev); err != nil {
		return fmt.Errorf("notification %s/%d: %w: %w", oe.RunID, oe.Seq, err, outbox.ErrRejected)
	}
	ev.Link = s.link(ev)
	routes, err := s.Routes(ctx)
	if err != nil {
		return fmt.Errorf("read the notification routes: %w", err)
	}
	targets := Routes(routes, ev)
	if len(targets) == 0 && (s.File == nil || ev.Kind == KindRunEnded) {
		return nil
	}
	stateKey := layout.NotifyStateKey(oe.RunID, oe.Seq)
	state, etag, err := s.readState(ctx, stateKey)
	if err != nil {
		return err
	}
	now := s.Now()
	waiting := false
	save := func() error {
		b, _ := json.Marshal(state)
		opts := storage.PutOptions{ContentType: "application/json", IfNoneMatch: etag == ""}
		if etag != "" {
			opts.IfMatch = etag
		}
		obj, err := s.Store.Put(ctx, stateKey, bytes.NewReader(b), opts)
		if err != nil {
			return fmt.Errorf("record the delivery of %s: %w", ev.ID, err)
		}
		etag = obj.ETag
		return nil
	}
	try := func(channel string, send func() error) error {
		cs := state[channel]
		if cs == nil {
			cs = &channelState{}
			state[channel] = cs
		}
		if cs.Delivered || cs.Dead {
			return nil
		}
		if now.Before(cs.Next) {
			waiting = true
			return nil
		}
		err := send()
		cs.Attempts++
		switch {
		case err == nil:
			cs.Delivered, cs.LastError = true, ""
			s.metrics.sent.WithLabelValues(channel, ev.Kind).Inc()
		case errors.Is(err, outbox.ErrRejected) || cs.Attempts >= s.MaxAttempts:
			s.metrics.failed.WithLabelValues(channel, ev.Kind).Inc()
			cs.Dead, cs.LastError = true, err.Error()
			dl, _ := json.Marshal(DeadLetter{Channel: channel, Attempts: cs.Attempts, LastError: cs.LastError, At: now.UTC(), Event: ev})
			if _, perr := s.Store.Put(ctx, layout.NotifyDeadKey(oe.RunID, oe.Seq, channel), bytes.NewReader(dl), storage.PutOptions{ContentType: "application/json"}); perr != nil {
				return fmt.Errorf("keep the dead letter of %s to %s: %w", ev.ID, channel, perr)
			}
			s.metrics.dead.WithLabelValues(channel, ev.Kind).Inc()
			s.Logger.Error("notify: a channel did not take an event; kept as a dead letter", "channel", channel, "event", ev.ID,
				"attempts", cs.Attempts, "key", layout.NotifyDeadKey(oe.RunID, oe.Seq, channel), "error", err)
		default:
			s.metrics.failed.WithLabelValues(channel, ev.Kind).Inc()
			wait := min(s.Backoff<<min(cs.Attempts-1, 20), s.MaxBackoff)
			cs.Next, cs.LastError = now.Add(wait), err.Error()
			waiting = true
			s.Logger.Warn("notify: delivery failed; retrying", "channel", channel, "event", ev.ID, "attempt", cs.Attempts, "retryIn", wait, "error", err)
		}
		return save()
	}
	if s.File != nil && ev.Kind != KindRunEnded {
		body, _ := json.Marshal(ev)
		if err := try(fileChannel, func() error { return s.File.Send(ctx, body) }); err != nil {
			return err
		}
	}
	for _, n := range targets {
		if err := try(n.Name, func() error { return s.send(ctx, n, ev) }); err != nil {
			return err
		}
	}
	if waiting {
		return outbox.ErrWait
	}
	// The state stays until the run's last event is sent (it lies among the
	// sent markers): a sender that dies before marking the event sent then
	// delivers it to no channel twice.
	return nil
}

// send delivers ev to one channel.
func (s *Sender) send(ctx context.Context, n spec.Notification, ev Event) error {
	if len(n.Email) > 0 {
		if s.Mail == nil {
			return ErrNoSMTP
		}
		return s.Mail.Send(ctx, n.Email, Mail(s.From, n.Email, ev))
	}
	body, err := Payload(n.Format, ev)
	if err != nil {
		return fmt.Errorf("%w: %w", err, outbox.ErrRejected)
	}
	return s.Webhook.Post(ctx, n.Webhook, body)
}

func (s *Sender) readState(ctx context.Context, key string) (map[string]*channelState, string, error) {
	state := map[string]*channelState{}
	r, obj, err := s.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return state, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	b, err := io.ReadAll(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = json.Unmarshal(b, &state)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", key, err)
	}
	return state, obj.ETag, nil
}

// link is where the event's reader acts, under the public URL.
func (s *Sender) link(ev Event) string {
	if s.PublicURL == "" {
		return ""
	}
	base := strings.TrimRight(s.PublicURL, "/")
	switch ev.Kind {
	case spec.EventApprovalRequested, spec.EventApprovalEscalated:
		return base + InboxPath(ev.Run.WorkflowID)
	case spec.EventFailed, spec.EventExpired:
		return base + "/runs?product=" + url.QueryEscape(ev.Product)
	}
	return base + "/products/" + ev.Product
}

// InboxPath is the path of a run's item in the web inbox: the inbox, scrolled
// to the run's article (its id is the workflow ID).
func InboxPath(workflowID string) string {
	return "/inbox#" + url.PathEscape(workflowID)
}
