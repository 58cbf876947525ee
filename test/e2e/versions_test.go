package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"github.com/prometheus/client_golang/prometheus"
)

// TestIdenticalRefreshEndsUnchanged refreshes a product twice over the same
// input on the real server: the second run publishes no version, ends
// unchanged naming 1.0.0, records the check that freshness counts from and
// leaves no staging. A changed input then publishes 1.1.0, from which
// freshness counts again.
func TestIdenticalRefreshEndsUnchanged(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "meshflow-versions"
	e.startWorkers([]string{queue}, nil)
	p := harness.TinyProduct(t, t.TempDir(), "finance", "ledger", queue)

	if v := e.Published(e.Start(p, "first", "chen.jie"), 2*time.Minute); v != "1.0.0" {
		t.Fatalf("first run published %s, want 1.0.0", v)
	}
	first, found, err := catalog.ReadLatest(t.Context(), e.Store, p.Ref())
	if err != nil || !found {
		t.Fatalf("latest after the first run: %v, %v", found, err)
	}

	run := e.Start(p, "second", "chen.jie")
	res, err := e.Result(run, 2*time.Minute)
	if err != nil || res.Stage != refresh.StageUnchanged || res.Version != "1.0.0" || !strings.Contains(res.Reason, "identical to version 1.0.0") {
		t.Fatalf("second run over the same input: %+v, %v; want unchanged, identical to 1.0.0\n%s", res, err, e.Explain(run.GetID()))
	}
	e.record("unchanged", run.GetID(), run.GetRunID())
	en, err := catalog.Show(t.Context(), e.Store, p.Ref())
	if err != nil || !slices.Equal(en.Versions, []string{"1.0.0"}) || en.Latest.RunID != first.Manifest.RunID {
		t.Fatalf("versions after the unchanged run: %v (latest by run %s), %v; want only 1.0.0 of the first run", en.Versions, en.Latest.RunID, err)
	}
	check, found, err := catalog.ReadCheck(t.Context(), e.Store, p.Ref())
	if err != nil || !found {
		t.Fatalf("check record %s: found %v, %v", layout.CheckedKey(p.Ref()), found, err)
	}
	if check.Version != "1.0.0" || check.RunID != run.GetRunID() || check.WorkflowID != run.GetID() || !check.CheckedAt.After(first.Manifest.PublishedAt) {
		t.Fatalf("check record %+v, want 1.0.0 checked by %s after the publication at %s", check, run.GetRunID(), first.Manifest.PublishedAt)
	}
	if got := catalog.FreshAt(en.Latest, catalog.LatestCheck(t.Context(), e.Store, p.Ref(), en.Latest)); !got.Equal(check.CheckedAt) {
		t.Fatalf("fresh at %s, want the check's %s", got, check.CheckedAt)
	}
	st, err := e.Control.Status(t.Context(), run.GetID(), "")
	if err != nil || st.Stage != refresh.StageUnchanged || st.Unchanged != "1.0.0" || !strings.Contains(st.Detail, "unchanged since 1.0.0") ||
		!st.CheckedAt.Equal(check.CheckedAt) {
		t.Fatalf("status %+v, %v; want unchanged since 1.0.0, checked at %s", st, err, check.CheckedAt)
	}
	runs, err := e.Control.Runs(t.Context(), p.Ref(), refresh.StageUnchanged, 5)
	if err != nil || len(runs) != 1 || runs[0].WorkflowID != run.GetID() {
		t.Fatalf("runs listed in stage unchanged: %+v, %v; want the second run", runs, err)
	}
	noStaging(t, e.Store)

	harness.ChangeInput(t, p)
	if v := e.Published(e.Start(p, "third", "chen.jie"), 2*time.Minute); v != "1.1.0" {
		t.Fatalf("run over a changed input published %s, want 1.1.0", v)
	}
	latest, _, err := catalog.ReadLatest(t.Context(), e.Store, p.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if c := catalog.LatestCheck(t.Context(), e.Store, p.Ref(), latest.Manifest); c != nil {
		t.Fatalf("the check of 1.0.0 counts for %s: %+v", latest.Manifest.Version, c)
	}
	if got := catalog.FreshAt(latest.Manifest, nil); !got.Equal(latest.Manifest.PublishedAt) {
		t.Fatalf("fresh at %s, want the publication of 1.1.0 at %s", got, latest.Manifest.PublishedAt)
	}
}

// TestNewerRunSupersedesOlderWaitingRun lets two runs of a product that needs
// a steward wait on the real server. Forged supersede signals, sent with a raw
// Temporal client, do not end the older run; the newer run reaching approval
// does: the older one ends superseded, leaves the inbox and its staging, and
// meshflow serve answers a decision on it with 409, naming the newer run,
// which is then approved and published.
func TestNewerRunSupersedesOlderWaitingRun(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	const queue = "meshflow-versions"
	e.startWorkers([]string{queue}, nil)
	p := harness.TinyProduct(t, t.TempDir(), "finance", "ledger", queue)
	p.Governance = refresh.Governance{Approval: refresh.ApprovalAlways, Stewards: []string{"maria.rossi"}, Quorum: 1, Timeout: time.Hour}

	older := e.Start(p, "older", "chen.jie")
	olderSt := e.WaitStage(older.GetID(), refresh.StageAwaitingApproval, 2*time.Minute)

	// Anyone with access to Temporal can signal: claims of a run that does
	// not exist, of the run itself and of a run of another workflow ID are
	// refused, and the run keeps waiting.
	for _, claim := range []refresh.Supersede{
		{WorkflowID: refresh.WorkflowID(p.Ref(), "forged"), RunID: "5f0f7a5e-0000-4000-8000-000000000000"},
		{WorkflowID: older.GetID(), RunID: older.GetRunID()},
		{WorkflowID: "refresh/finance/other/x", RunID: older.GetRunID()},
	} {
		if err := e.Temporal.SignalWorkflow(t.Context(), older.GetID(), "", refresh.SignalSupersede, claim); err != nil {
			t.Fatal(err)
		}
	}
	var st refresh.Status
	testwait.For(t, time.Minute, "the older run to refuse the three forged claims", func() bool {
		st, _ = e.Control.Status(t.Context(), older.GetID(), "")
		return len(st.SupersedeRefused) == 3
	})
	for i, want := range []string{"Temporal has no run", "cannot supersede itself", "is not a refresh of finance/ledger"} {
		if !strings.Contains(st.SupersedeRefused[i], want) {
			t.Errorf("refused claim %d: %q, want it to say %q", i+1, st.SupersedeRefused[i], want)
		}
	}
	if st.Stage != refresh.StageAwaitingApproval || st.SupersededBy != "" {
		t.Fatalf("after forged claims: stage %s, superseded by %q; want still waiting", st.Stage, st.SupersededBy)
	}

	harness.ChangeInput(t, p)
	newer := e.Start(p, "newer", "chen.jie")
	e.WaitStage(newer.GetID(), refresh.StageAwaitingApproval, 2*time.Minute)
	res, err := e.Result(older, time.Minute)
	if err != nil || res.Stage != refresh.StageSuperseded || !strings.Contains(res.Reason, "superseded by "+newer.GetID()) {
		t.Fatalf("older run: %+v, %v; want superseded by %s\n%s", res, err, newer.GetID(), e.Explain(older.GetID()))
	}
	e.record("superseded", older.GetID(), older.GetRunID())
	if st, err = e.Control.Status(t.Context(), older.GetID(), ""); err != nil || st.SupersededBy != newer.GetID() {
		t.Fatalf("older run's status: %+v, %v; want superseded by %s", st, err, newer.GetID())
	}
	testwait.For(t, time.Minute, "the inbox to list only the newer run", func() bool {
		pending, err := e.Control.Pending(t.Context(), p.Ref())
		return err == nil && len(pending) == 1 && pending[0].WorkflowID == newer.GetID()
	})

	// A steward's decision on the superseded run, through meshflow serve.
	code, body := decideThroughServe(t, e, "maria.rossi", older.GetID(), olderSt.ManifestHash)
	if code != http.StatusConflict || !strings.Contains(body, `"superseded"`) || !strings.Contains(body, "superseded by "+newer.GetID()) {
		t.Fatalf("decision on the superseded run: %d %s; want 409 superseded, naming %s", code, body, newer.GetID())
	}

	if _, err := e.Control.Decide(t.Context(), "", newer.GetID(), refresh.Decision{Principal: "maria.rossi", Approve: true, Comment: "newest data"}); err != nil {
		t.Fatalf("approve the newer run: %v", err)
	}
	if v := e.Published(newer, time.Minute); v != "1.0.0" {
		t.Fatalf("newer run published %s, want 1.0.0", v)
	}
	e.record("supersedes-older", newer.GetID(), newer.GetRunID())
	noStaging(t, e.Store)
}

// decideThroughServe posts an approval of run id, for the manifest hash, to a
// meshflow serve on the env's Temporal, as principal, and returns the answer's
// status code and body.
func decideThroughServe(t *testing.T, e *env, principal, id, hash string) (int, string) {
	t.Helper()
	tok, tokHash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewTokens([]spec.Principal{{Name: principal, TokenHash: tokHash}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(serve.Config{Runs: e.Control, Auth: authn, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	b, err := json.Marshal(map[string]any{"workflowId": id, "approve": true, "comment": "looks right", "manifestHash": hash})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hs.URL+"/api/v1/decisions", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}
