package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
)

// TestAccessGrantedAndRevokedEarly asks for read access on the real server: the
// requester may not approve, a steward finds the request among the pending ones
// and approves, the grant is in the store and Check allows the requester, and an
// early revocation ends it before its expiry.
func TestAccessGrantedAndRevokedEarly(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.startWorkers(harness.Queues(e.set), nil)
	ctx := t.Context()
	const ref, requester = "finance/global-kpis", "chen.jie"

	req, err := control.AccessInput(e.set, ref, requester, "e2e: benchmark the regional KPIs", 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.Control.RequestAccess(ctx, req, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if want := "access/finance/global-kpis/chen.jie/e2e"; run.GetID() != want {
		t.Fatalf("workflow ID %s, want %s", run.GetID(), want)
	}
	testwait.For(t, time.Minute, "the request to be listed as pending", func() bool {
		pending, err := e.Control.PendingAccess(ctx, ref)
		return err == nil && slices.ContainsFunc(pending, func(r control.AccessRun) bool {
			return r.WorkflowID == run.GetID() && r.Requester == requester && r.Stage == access.StagePending
		})
	})
	if _, err := e.Control.DecideAccess(ctx, run.GetID(), access.Decision{Principal: requester, Approve: true}); err == nil ||
		!strings.Contains(err.Error(), "chen.jie asked for this access and cannot decide on it") {
		t.Fatalf("the requester's approval: got %v, want it refused", err)
	}
	if _, ok, err := grants.Check(ctx, e.Store, requester, ref, time.Now()); err != nil || ok {
		t.Fatalf("access before approval: %t, %v", ok, err)
	}

	st, err := e.Control.DecideAccess(ctx, ref, access.Decision{Principal: "maria.rossi", Approve: true, Comment: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage != access.StageGranted || st.Grant == nil {
		t.Fatalf("after approval: %+v", st)
	}
	g, ok, err := grants.Check(ctx, e.Store, requester, ref, time.Now())
	if err != nil || !ok || g.ID != st.Grant.ID || g.GrantedBy != "maria.rossi" || g.WorkflowID != run.GetID() {
		t.Fatalf("Check after approval: %+v %t %v", g, ok, err)
	}
	if _, ok, _ := grants.Check(ctx, e.Store, "tom.baker", ref, time.Now()); ok {
		t.Fatal("a principal without a grant may read")
	}

	st, err = e.Control.RevokeAccess(ctx, run.GetID(), access.Revocation{Principal: "maria.rossi", Reason: "e2e done"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage != access.StageRevoked || st.Grant == nil || st.Grant.RevokedAt.IsZero() {
		t.Fatalf("after revocation: %+v", st)
	}
	if _, ok, err := grants.Check(ctx, e.Store, requester, ref, time.Now()); err != nil || ok {
		t.Fatalf("access after revocation: %t, %v", ok, err)
	}
	all, err := grants.List(ctx, e.Store, ref)
	if err != nil || len(all) != 1 || all[0].RevokedBy != "maria.rossi" || all[0].Reason != "e2e done" {
		t.Fatalf("stored grants %+v, %v", all, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var res access.Result
	if err := run.Get(rctx, &res); err != nil || res.Stage != access.StageRevoked || res.GrantID != g.ID {
		t.Fatalf("result %+v, %v", res, err)
	}
	e.record("access-granted-and-revoked", run.GetID(), run.GetRunID())
}
