package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
	"github.com/meshflow/meshflow/internal/testwait"
)

// TestApplyCommands runs apply, schedule and backfill as a user would, against a
// real Temporal server.
func TestApplyCommands(t *testing.T) {
	srv, _ := devservertest.StartMesh(t)
	dir := brokenMesh(t, "mesh.yaml") // an unedited copy
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	storeDir := t.TempDir()
	conn := []string{"--temporal-address", srv.FrontendAddress(), "--namespace", srv.Namespace()}
	apply := []string{"apply", "--store", storeDir, "--signing-public-key", string(signer.PublicKey())}
	meshflow := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append(args, conn...), &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := meshflow(args...)
		if err != nil {
			t.Fatalf("meshflow %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := mustRun(append(apply, "--dry-run", dir)...)
	t.Logf("meshflow apply --dry-run:\n%s", out)
	if !strings.Contains(out, "6 to create, 0 to update, 0 to delete, 0 unchanged (dry run: nothing changed)") ||
		!strings.Contains(out, `create  schedule/sales-china/regional-sales`) {
		t.Errorf("apply --dry-run:\n%s", out)
	}
	if out := mustRun(append(apply, dir)...); !strings.Contains(out, "6 created, 0 updated, 0 deleted, 0 unchanged") || !strings.Contains(out, "published mesh revision") {
		t.Errorf("apply:\n%s", out)
	}
	st, err := storage.OpenLocal(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	rev, id, err := meshrev.Load(t.Context(), st, refresh.RevisionCurrent)
	if err != nil || len(rev.Products) != 6 || rev.AppliedBy != "meshflow-apply" || len(rev.Keys) != 1 || rev.Keys[0] != signer.PublicKey() {
		t.Fatalf("the applied revision: %d products, applied by %q, keys %v: %v", len(rev.Products), rev.AppliedBy, rev.Keys, err)
	}
	if out := mustRun(append(apply, dir)...); !strings.Contains(out, "0 created, 0 updated, 0 deleted, 6 unchanged") || !strings.Contains(out, "mesh revision "+meshrev.Short(id)+" is current already") {
		t.Errorf("second apply:\n%s", out)
	}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"apply", "--store", storeDir, "--no-schedules", dir}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "--signing-public-key is required") {
		t.Errorf("apply without serve's key: %v", err)
	}

	if out := mustRun("schedule", "pause", "finance/fx-rates", "--note", "bank holiday"); !strings.Contains(out, "paused schedule/finance/fx-rates") {
		t.Errorf("schedule pause:\n%s", out)
	}
	if out := mustRun("schedule", "resume", "finance/fx-rates"); !strings.Contains(out, "resumed schedule/finance/fx-rates") {
		t.Errorf("schedule resume:\n%s", out)
	}
	if out, err := meshflow("schedule", "pause", "finance/nope"); err == nil || !strings.Contains(err.Error(), "meshflow apply") {
		t.Errorf("pausing an unknown product: %v\n%s", err, out)
	}

	// The list reads Temporal's visibility store, which may lag behind the creates.
	// The checks below say what is missing when the wait times out.
	var list string
	_ = testwait.Poll(30*time.Second, func() error {
		if list = mustRun("schedule", "list"); strings.Count(list, "schedule/") != 6 {
			return errors.New("not every schedule is listed yet")
		}
		return nil
	})
	t.Logf("meshflow schedule list:\n%s", list)
	for _, want := range []string{"ID  ", "schedule/sales-china/regional-sales", "0 6 * * *", "Asia/Shanghai", "skip", " CST"} {
		if !strings.Contains(list, want) {
			t.Errorf("schedule list lacks %q:\n%s", want, list)
		}
	}

	if out := mustRun("backfill", "sales-china/regional-sales", "--from", "2026-09-01", "--to", "2026-09-03"); !strings.Contains(out,
		"from 2026-09-01T00:00:00+08:00 to 2026-09-03T23:59:59+08:00") {
		t.Errorf("backfill:\n%s", out)
	}
	if out, err := meshflow("backfill", "sales-china/regional-sales", "--from", "2026-09-07", "--to", "2026-09-01"); err == nil || !strings.Contains(err.Error(), "ends") {
		t.Errorf("backfill of a reversed range: %v\n%s", err, out)
	}
	if out, err := meshflow("backfill", "sales-china/regional-sales", "--from", "yesterday", "--to", "2026-09-01"); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("backfill with a bad date: %v\n%s", err, out)
	}
}
