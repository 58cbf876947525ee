package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/interop/notify"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"github.com/prometheus/client_golang/prometheus"
)

// webhook is an httptest receiver of json notifications.
type webhook struct {
	mu     sync.Mutex
	events []notify.Event
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var ev notify.Event
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(rw, "not a notification", http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, ev)
}

// of returns the events of a kind received so far.
func (w *webhook) of(kind string) []notify.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []notify.Event
	for _, ev := range w.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// TestNotificationsOfARefreshThatNeedsApproval runs a refresh whose product
// needs a steward's sign-off on the real server, with a mesh that routes its
// events to a webhook: the webhook gets the approval request with the deep
// link to its inbox item, then the decision and the publication, each once,
// and then an access request to the product and its grant.
func TestNotificationsOfARefreshThatNeedsApproval(t *testing.T) {
	e := harness.New(t, "e2e-notify", harness.LocalStore(t))
	const queue = "meshflow-finance"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Notify: true})
	rcv := &webhook{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := &notify.Sender{Store: e.Store, Routes: notify.RevisionRoutes(e.Store), PublicURL: "https://meshflow.example.com",
		Poll: 20 * time.Millisecond, Registerer: prometheus.NewRegistry(), Logger: harness.QuietLogger()}
	go func() { _ = s.Run(t.Context()) }()

	p := harness.TinyProduct(t, t.TempDir(), "finance", "ledger", queue)
	p.Governance = refresh.Governance{Approval: refresh.ApprovalAlways, Stewards: []string{"maria.rossi"}, Quorum: 1, Timeout: time.Hour}
	rev := meshrev.Revision{Products: map[string]refresh.Product{p.Ref(): p}, AccessApprovers: map[string][]string{p.Ref(): {"maria.rossi"}},
		Notifications: []spec.Notification{
			{Name: "finance-stewards", Webhook: srv.URL, Format: spec.FormatJSON, Domains: []string{"finance"},
				Events: []string{spec.EventApprovalRequested, spec.EventDecided, spec.EventPublished, spec.EventFailed, spec.EventAccessRequested, spec.EventAccessGranted}},
			{Name: "sales-only", Webhook: srv.URL, Domains: []string{"sales"}, Events: []string{spec.EventPublished}},
		}}
	id := e.Mesh.Publish(t, rev)
	run, err := e.Control.Start(t.Context(), control.Refresh{Ref: p.Ref(), TaskQueue: queue, Revision: id, Principal: "chen.jie", Reason: "e2e", Suffix: "notify"})
	if err != nil {
		t.Fatal(err)
	}

	testwait.For(t, 2*time.Minute, "the approval request at the webhook", func() bool { return len(rcv.of(spec.EventApprovalRequested)) > 0 })
	ask := rcv.of(spec.EventApprovalRequested)[0]
	if want := "https://meshflow.example.com/inbox#" + url.PathEscape(run.GetID()); ask.Link != want {
		t.Errorf("approval request links to %q, want its inbox item %q", ask.Link, want)
	}
	if ask.Product != p.Ref() || ask.Run.WorkflowID != run.GetID() || ask.Run.RunID != run.GetRunID() || !slices.Equal(ask.Approvers, []string{"maria.rossi"}) ||
		ask.Action == "" || ask.Deadline == nil || ask.ID != notify.EventID(run.GetRunID(), notify.SeqApproval, spec.EventApprovalRequested) {
		t.Errorf("approval request %+v", ask)
	}
	e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)
	if _, err := e.Control.Decide(t.Context(), "", run.GetID(), refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "ok"}); err != nil {
		t.Fatal(err)
	}
	version := e.Published(run, time.Minute)

	testwait.For(t, time.Minute, "the publication at the webhook", func() bool { return len(rcv.of(spec.EventPublished)) > 0 })
	pub := rcv.of(spec.EventPublished)[0]
	if pub.Version != version || pub.Link != "https://meshflow.example.com/products/"+p.Ref() || pub.Run.RunID != run.GetRunID() {
		t.Errorf("publication %+v, want version %s", pub, version)
	}
	decided := rcv.of(spec.EventDecided)
	if len(decided) != 1 || decided[0].Decision != string(refresh.Approve) || len(decided[0].Decisions) != 1 || decided[0].Decisions[0].Principal != "maria.rossi" {
		t.Errorf("decision events %+v", decided)
	}
	// The run's last event (run-ended, which no channel takes) is delivered
	// too: then nothing waits in the outbox, and nothing came twice.
	testwait.For(t, time.Minute, "the notifications' outbox to empty", func() bool {
		objs, err := e.Store.List(t.Context(), "_notify/outbox/")
		return err == nil && len(objs) == 0
	})
	if n := len(rcv.of(spec.EventApprovalRequested)) + len(rcv.of(spec.EventPublished)); n != 2 {
		t.Errorf("the webhook got %d approval requests and publications, want one each", n)
	}
	if f := rcv.of(spec.EventFailed); len(f) != 0 {
		t.Errorf("failure events of a run that published: %+v", f)
	}

	// An access request and its grant are told too.
	ask2, err := e.Control.RequestAccess(t.Context(), access.Request{Product: p.Ref(), Requester: "chen.jie", Purpose: "e2e: reconcile", Duration: time.Hour, TaskQueue: queue}, "notify")
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, time.Minute, "the access request at the webhook", func() bool { return len(rcv.of(spec.EventAccessRequested)) > 0 })
	if req := rcv.of(spec.EventAccessRequested)[0]; req.Requester != "chen.jie" || req.Run.WorkflowID != ask2.GetID() || !slices.Equal(req.Approvers, []string{"maria.rossi"}) {
		t.Errorf("access request event %+v", req)
	}
	if _, err := e.Control.DecideAccess(t.Context(), ask2.GetID(), access.Decision{Principal: "maria.rossi", Approve: true, Comment: "ok"}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, time.Minute, "the grant at the webhook", func() bool { return len(rcv.of(spec.EventAccessGranted)) > 0 })
	if g := rcv.of(spec.EventAccessGranted)[0]; g.Requester != "chen.jie" || g.GrantID == "" || g.Link != "https://meshflow.example.com/products/"+p.Ref() {
		t.Errorf("grant event %+v", g)
	}
}
