package publish_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/publish"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// staged stages a run's data and report and returns its manifest.
func staged(t *testing.T, st storage.Store, ref, runID, data string) refresh.Manifest {
	t.Helper()
	put := func(name, body string) refresh.ObjectRef {
		key := layout.StagedKey(ref, runID, name)
		if _, err := st.Put(t.Context(), key, strings.NewReader(body), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		return refresh.ObjectRef{Key: key, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	}
	return refresh.Manifest{Product: ref, RunID: runID, Data: put(layout.Data, data), Report: put(layout.Report, "{}")}
}

func newStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestVersionsFollowTheBumps: 1.0.0 first, a minor bump, a major bump; each
// version's objects are in its folder with their checksums, and the latest
// pointer names the newest.
func TestVersionsFollowTheBumps(t *testing.T) {
	st := newStore(t)
	p := publish.Publisher{Store: st, Scratch: t.TempDir()}
	ref := "sales/orders"
	prev := ""
	for i, tc := range []struct {
		bump refresh.Bump
		want string
	}{{refresh.BumpMinor, "1.0.0"}, {refresh.BumpMinor, "1.1.0"}, {refresh.BumpMajor, "2.0.0"}} {
		m := staged(t, st, ref, "run-"+tc.want, "rows "+tc.want)
		res, err := p.Publish(t.Context(), refresh.PublishInput{Manifest: m, Previous: prev, Bump: tc.bump})
		if err != nil || res.Version != tc.want || res.Reused {
			t.Fatalf("publish %d: %+v, %v; want %s", i, res, err, tc.want)
		}
		prev = res.Version
	}
	head, found, err := catalog.ReadLatest(t.Context(), st, ref)
	if err != nil || !found || head.Pointer.Version != "2.0.0" || head.Manifest.Previous != "1.1.0" {
		t.Fatalf("latest %+v found %v err %v; want 2.0.0 on top of 1.1.0", head.Pointer, found, err)
	}
	r, obj, err := st.Get(t.Context(), head.Manifest.Data.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.ReadFrom(r)
	if b.String() != "rows 2.0.0" || obj.SHA256 != head.Manifest.Data.SHA256 || !strings.HasPrefix(obj.Key, layout.VersionPrefix(ref, "2.0.0")+"/") {
		t.Fatalf("version 2.0.0 data %q at %s", b.String(), obj.Key)
	}
}

// TestRepeatedPublishIsReused: a retried attempt of the run that committed
// reports the same version and writes nothing new.
func TestRepeatedPublishIsReused(t *testing.T) {
	st := newStore(t)
	p := publish.Publisher{Store: st, Scratch: t.TempDir()}
	in := refresh.PublishInput{Manifest: staged(t, st, "s/p", "r1", "x"), Bump: refresh.BumpMinor}
	first, err := p.Publish(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Publish(t.Context(), in)
	if err != nil || !again.Reused || again.Version != first.Version {
		t.Fatalf("second attempt %+v, %v; want %s reused", again, err, first.Version)
	}
}

// TestARunThatFellBehindLosesTheRace: a run checked against a version that is no
// longer the latest stops with a VersionTakenError; so does a run that finds a
// young claim of another run on its version. A stale claim is stepped over.
func TestARunThatFellBehindLosesTheRace(t *testing.T) {
	st := newStore(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	clock := now
	p := publish.Publisher{Store: st, Scratch: t.TempDir(), Now: func() time.Time { return clock }}
	ctx := t.Context()
	if _, err := p.Publish(ctx, refresh.PublishInput{Manifest: staged(t, st, "s/p", "a", "a"), Bump: refresh.BumpMinor}); err != nil {
		t.Fatal(err)
	}
	var taken *publish.VersionTakenError
	_, err := p.Publish(ctx, refresh.PublishInput{Manifest: staged(t, st, "s/p", "b", "b"), Bump: refresh.BumpMinor})
	if !errors.As(err, &taken) || !strings.Contains(err.Error(), "published by another run") {
		t.Fatalf("a run checked against no version after 1.0.0 was published: %v", err)
	}

	// A claim on 1.1.0 by a run that stopped before committing.
	claim := layout.InVersion(staged(t, st, "s/p", "c", "c"), "1.1.0")
	claim.Previous, claim.PublishedAt = "1.0.0", now
	var body bytes.Buffer
	if err := jsonEncode(&body, claim); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, layout.ManifestKey("s/p", "1.1.0"), &body, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(time.Minute)
	_, err = p.Publish(ctx, refresh.PublishInput{Manifest: staged(t, st, "s/p", "d", "d"), Previous: "1.0.0", Bump: refresh.BumpMinor})
	if !errors.As(err, &taken) || !strings.Contains(err.Error(), "is being published by run c") {
		t.Fatalf("a young claim of another run: %v", err)
	}
	clock = now.Add(layout.DefaultStaleClaimAfter + time.Second)
	res, err := p.Publish(ctx, refresh.PublishInput{Manifest: staged(t, st, "s/p", "e", "e"), Previous: "1.0.0", Bump: refresh.BumpMinor})
	if err != nil || res.Version != "1.2.0" {
		t.Fatalf("over a stale claim: %+v, %v; want 1.2.0", res, err)
	}
	e, err := catalog.Show(ctx, st, "s/p")
	if err != nil || strings.Join(e.Versions, " ") != "1.0.0 1.2.0" {
		t.Fatalf("committed versions %v, %v; want 1.0.0 1.2.0 (the stale claim is in no chain)", e.Versions, err)
	}
}

func jsonEncode(b *bytes.Buffer, v any) error { return json.NewEncoder(b).Encode(v) }

// TestCheckRecordOnlyMovesForward: a check of the latest version is recorded
// and freshness counts from it; an older check (a slow retry) and a check of
// a version that is no longer latest leave the record; the audit takes the
// record for part of the product.
func TestCheckRecordOnlyMovesForward(t *testing.T) {
	st := newStore(t)
	p := publish.Publisher{Store: st, Scratch: t.TempDir()}
	ref := "sales/orders"
	res, err := p.Publish(t.Context(), refresh.PublishInput{Manifest: staged(t, st, ref, "run-1", "rows"), Bump: refresh.BumpMinor})
	if err != nil {
		t.Fatal(err)
	}
	head, _, err := catalog.ReadLatest(t.Context(), st, ref)
	if err != nil {
		t.Fatal(err)
	}
	later := head.Manifest.PublishedAt.Add(time.Hour)
	record := func(version string, at time.Time, run string) {
		t.Helper()
		if err := p.RecordCheck(t.Context(), ref, layout.Check{Version: version, CheckedAt: at, RunID: run}); err != nil {
			t.Fatal(err)
		}
	}
	record(res.Version, later, "run-2")
	record(res.Version, later.Add(-time.Minute), "run-slow")
	record("0.9.0", later.Add(time.Hour), "run-stale")
	c, found, err := catalog.ReadCheck(t.Context(), st, ref)
	if err != nil || !found || c.RunID != "run-2" || !c.CheckedAt.Equal(later) || c.Version != "1.0.0" {
		t.Fatalf("check record %+v (found %v, %v); want run-2's check of 1.0.0 at %s", c, found, err, later)
	}
	if got := catalog.FreshAt(head.Manifest, catalog.LatestCheck(t.Context(), st, ref, head.Manifest)); !got.Equal(later) {
		t.Fatalf("fresh at %s, want the check's %s", got, later)
	}
	a, err := catalog.AuditProduct(t.Context(), st, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Problems {
		if strings.Contains(p, "checked.json") {
			t.Errorf("the audit counts the check record as a problem: %s", p)
		}
	}
}
