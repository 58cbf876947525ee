package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/meshflow/meshflow/internal/interop/outbox"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Kind names an event, as notifications in mesh.yaml route it (spec.Event…).
type Kind = string

// KindRunEnded is the last event of every refresh run whose end no channel
// is told of (it published, or was cancelled): no notification routes it, and
// its delivery only lets the sender forget the run's sent markers.
const KindRunEnded Kind = "run-ended"

// The seq of each event in its run's outbox: fixed by the kind of event, so
// that a retried activity writes the same key, and in the order of a run.
const (
	// SeqDeprecation is the first seq of deprecation-approaching events: the
	// input at place i of a product has seq SeqDeprecation+i, at most
	// SeqDeprecationLast (later inputs share it, and only the first is told).
	SeqDeprecation     = 1
	SeqDeprecationLast = 9
	SeqBreakingChange  = 10
	SeqApproval        = 20
	SeqEscalated       = 30
	SeqDecided         = 40
	SeqPublished       = 50
	SeqAccessRequested = 60
	SeqAccessGranted   = 70
	SeqAccessExpiring  = 75
	// SeqEnd is the last event of a refresh run: failed, expired, decided
	// (rejected) or run-ended.
	SeqEnd = 99
)

// Event is one notification, as the json format sends it; event.schema.json
// documents it.
type Event struct {
	// SchemaVersion is the version of this shape (SchemaVersion).
	SchemaVersion string `json:"schemaVersion"`
	// ID identifies the event: the same event delivered twice has the same ID.
	ID   string    `json:"id"`
	Kind Kind      `json:"kind"`
	At   time.Time `json:"at"`
	// Domain and Product ("<domain>/<name>") name the product.
	Domain  string `json:"domain"`
	Product string `json:"product"`
	// Run is the workflow the event comes from.
	Run Run `json:"run"`
	// Title is one line; Text says what happened; Action what to do about it.
	Title  string `json:"title"`
	Text   string `json:"text"`
	Action string `json:"action,omitempty"`
	// Link is where to act: the inbox item of an approval request, the
	// product's page, the product's runs. The sender sets it from its public
	// URL; without one there is none.
	Link string `json:"link,omitempty"`
	// Stage is the run's stage when the event happened.
	Stage string `json:"stage,omitempty"`
	// Version is the published version (published, decided).
	Version string `json:"version,omitempty"`
	// Breaking and Changes describe the candidate contract's changes.
	Breaking bool     `json:"breaking,omitempty"`
	Changes  []Change `json:"changes,omitempty"`
	// Impact says, a sentence per consumer, what the candidate does to the
	// products that read it (the govern stage's impact analysis), as in
	// "film/airport-cities will fail: its SQL reads `city`, removed here".
	Impact []string `json:"impact,omitempty"`
	// Approvers may decide; Deadline is when the request expires.
	Approvers []string   `json:"approvers,omitempty"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	// Decision is approve or reject (decided); Decisions the sign-offs.
	Decision  string     `json:"decision,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
	// Requester and GrantID are of access events.
	Requester string `json:"requester,omitempty"`
	GrantID   string `json:"grantId,omitempty"`
	// Reason says why a run failed, expired or was rejected.
	Reason string `json:"reason,omitempty"`
}

// SchemaVersion is the version of Event's shape.
const SchemaVersion = "1"

// Run names the workflow an event comes from.
type Run struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// Change is one change of the candidate contract.
type Change struct {
	Severity string `json:"severity"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}

// Decision is one sign-off.
type Decision struct {
	Principal string `json:"principal"`
	Decision  string `json:"decision"`
	Comment   string `json:"comment,omitempty"`
}

// EventID is the ID of a run's event seq of a kind: the same for every
// attempt of the activity that writes it.
func EventID(runID string, seq int, kind Kind) string {
	return fmt.Sprintf("%s-%03d-%s", runID, seq, kind)
}

// Outbox is where activities leave events for the Sender.
type Outbox struct {
	Store storage.Store
}

// Write leaves ev as its run's event seq: create-only, so that a retried
// activity leaves the first attempt's event, and skipped once it was sent.
// It sets the event's ID and schema version.
func (o Outbox) Write(ctx context.Context, seq int, ev Event) error {
	ev.SchemaVersion = SchemaVersion
	ev.ID = EventID(ev.Run.RunID, seq, ev.Kind)
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("notify outbox %s: %w", ev.ID, err)
	}
	if err := outbox.Write(ctx, o.Store, layout.NotifyOutbox, ev.Run.RunID, seq, b); err != nil {
		return fmt.Errorf("notify %w", err)
	}
	return nil
}

// Routes keep the notifications of mesh.yaml that take ev.
func Routes(all []spec.Notification, ev Event) []spec.Notification {
	var out []spec.Notification
	for _, n := range all {
		if takes(n, ev) {
			out = append(out, n)
		}
	}
	return out
}

func takes(n spec.Notification, ev Event) bool {
	kind := false
	for _, k := range n.Events {
		kind = kind || k == ev.Kind
	}
	if !kind {
		return false
	}
	if len(n.Domains) == 0 {
		return true
	}
	for _, d := range n.Domains {
		if d == ev.Domain {
			return true
		}
	}
	return false
}
