package activities

import (
	"errors"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func TestGrantActivitiesAreIdempotent(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a.RecordGrant)
	env.RegisterActivity(a.RevokeGrant)

	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	g := provenGrant(t, st, a, "finance/global-kpis", "chen.jie", "maria.rossi", "run-1", at)
	for range 2 { // the second call is a retry
		if _, err := env.ExecuteActivity(a.RecordGrant, access.RecordInput{Grant: g}); err != nil {
			t.Fatalf("record: %v", err)
		}
	}
	other := g
	other.WorkflowID = "access/finance/global-kpis/tom.baker/1"
	_, err = env.ExecuteActivity(a.RecordGrant, access.RecordInput{Grant: other})
	// Another request's grant is not this run's to record.
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); !ok || !appErr.NonRetryable() || appErr.Type() != refresh.ErrUnauthorized {
		t.Fatalf("another request's grant: got %v, want a non-retryable %s", err, refresh.ErrUnauthorized)
	}

	in := access.RevokeInput{Product: g.Product, ID: g.ID, By: "meshflow", Reason: "expired", At: g.ExpiresAt}
	for range 2 {
		v, err := env.ExecuteActivity(a.RevokeGrant, in)
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
		var got access.Grant
		if err := v.Get(&got); err != nil || !got.RevokedAt.Equal(g.ExpiresAt) || got.RevokedBy != "meshflow" {
			t.Fatalf("revoked grant %+v, %v", got, err)
		}
	}
	in.ID = "missing"
	_, err = env.ExecuteActivity(a.RevokeGrant, in)
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); !ok || !appErr.NonRetryable() {
		t.Fatalf("revoking a missing grant: got %v, want a non-retryable error", err)
	}
}
