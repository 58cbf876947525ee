package reliability

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/test/harness"
)

// newEnv starts an in-process Temporal server for a test of the suite;
// workers are started separately.
func newEnv(t *testing.T, store storage.Store) *harness.Env {
	t.Helper()
	return harness.New(t, "reliability", store)
}

// want is what reconcile expects of one published version: the run that
// published it and, when the run needed sign-off, who approved it.
type want struct {
	RunID     string
	Approvers []string // nil: no approval was needed
}

// reconcile audits product ref (catalog.AuditProduct: every committed version's
// objects match its manifest, no run published twice, versions and times move
// forward, latest.json names the newest version and its run, approvals are of
// one reviewed manifest) and checks that the store holds exactly the versions of
// wantVersions, published by the runs named, approved by whom they name; that no
// claim outside the chain is left; that the catalog shows the same versions; and
// that _staging/ holds nothing of the product.
func reconcile(t *testing.T, st storage.Store, ref string, wantVersions map[string]want) {
	t.Helper()
	a, err := catalog.AuditProduct(t.Context(), st, ref)
	if err != nil {
		t.Fatalf("reconcile %s: %v", ref, err)
	}
	for _, p := range a.Problems {
		t.Errorf("reconcile: %s", p)
	}
	if len(a.Unreachable) > 0 {
		t.Errorf("reconcile %s: versions %v were claimed but are in no chain from latest.json", ref, a.Unreachable)
	}
	if a.Staging > 0 {
		t.Errorf("reconcile %s: %d staging objects left by finished runs", ref, a.Staging)
	}
	for _, v := range a.Versions {
		m := a.Manifests[v]
		w, ok := wantVersions[v]
		switch {
		case !ok:
			t.Errorf("reconcile %s: v%s (run %s) is published but no run reported it", ref, v, m.RunID)
		case w.RunID != "" && w.RunID != m.RunID:
			t.Errorf("reconcile %s: v%s was published by run %s, reported by run %s", ref, v, m.RunID, w.RunID)
		case w.Approvers == nil && len(m.Approvals) > 0:
			t.Errorf("reconcile %s: v%s needed no approval but records %+v", ref, v, m.Approvals)
		case w.Approvers != nil:
			var got []string
			for _, ap := range m.Approvals {
				got = append(got, ap.Principal)
			}
			if !slices.Equal(got, w.Approvers) {
				t.Errorf("reconcile %s: v%s approvals by %v, want %v", ref, v, got, w.Approvers)
			}
		}
	}
	for v := range wantVersions {
		if !slices.Contains(a.Versions, v) {
			t.Errorf("reconcile %s: v%s was reported published but is not committed in the store", ref, v)
		}
	}
	if len(a.Versions) > 0 {
		e, err := catalog.Show(t.Context(), st, ref)
		if err != nil {
			t.Errorf("reconcile %s: catalog: %v", ref, err)
		} else if !slices.Equal(e.Versions, a.Versions) {
			t.Errorf("reconcile %s: the catalog shows versions %v, the audit %v", ref, e.Versions, a.Versions)
		}
	}
	t.Logf("reconcile %s: store holds versions %v", ref, a.Versions)
}

// watchLatest reads latest.json of ref every few milliseconds until the test
// ends, and fails the test if it ever moves backwards or to a version whose
// manifest does not exist. Read errors (a stopped server) are ignored.
func watchLatest(t *testing.T, st storage.Store, ref string) (seen func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var versions []string
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var l layout.Latest
			if _, err := catalog.ReadJSON(ctx, st, layout.LatestKey(ref), &l); err == nil {
				mu.Lock()
				if n := len(versions); n == 0 || versions[n-1] != l.Version {
					if n > 0 && layout.CompareVersions(l.Version, versions[n-1]) < 0 {
						problems = append(problems, fmt.Sprintf("latest.json moved back from %s to %s", versions[n-1], l.Version))
					}
					if _, err := st.Head(ctx, l.ManifestKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
						// unreadable for now: the next poll tells
					} else if err != nil {
						problems = append(problems, fmt.Sprintf("latest.json names %s, which does not exist", l.ManifestKey))
					}
					versions = append(versions, l.Version)
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, p := range problems {
			t.Errorf("watching %s: %s", ref, p)
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(versions)
	}
}
