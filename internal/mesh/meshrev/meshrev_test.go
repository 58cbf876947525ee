package meshrev

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
)

func revision(t *testing.T, s *signing.Signer) Revision {
	t.Helper()
	kpis := refresh.Product{Domain: "finance", Name: "kpis", TaskQueue: "q", Consumers: []string{"board/pack"},
		Governance: refresh.Governance{Approval: "always", Stewards: []string{"maria"}, Quorum: 1}}
	pack := refresh.Product{Domain: "board", Name: "pack", TaskQueue: "b", Consumers: []string{"board/deck"},
		Governance: refresh.Governance{Stewards: []string{"carl"}}}
	deck := refresh.Product{Domain: "board", Name: "deck", TaskQueue: "b"}
	return Revision{Format: Format, AppliedBy: "ci", Keys: []signing.PublicKey{s.PublicKey()},
		Products:        map[string]refresh.Product{kpis.Ref(): kpis, pack.Ref(): pack, deck.Ref(): deck},
		AccessApprovers: map[string][]string{kpis.Ref(): {"maria"}}}
}

func TestPublishLoadResolve(t *testing.T) {
	st, _ := storage.OpenLocal(t.TempDir())
	s, _ := signing.NewSigner()
	rev := revision(t, s)
	now := time.Now()
	first, err := Publish(t.Context(), st, rev, now)
	if err != nil || !first.Moved || first.Previous != "" {
		t.Fatalf("first publish: %+v, %v", first, err)
	}
	again, err := Publish(t.Context(), st, rev, now)
	if err != nil || again.Moved || again.ID != first.ID {
		t.Fatalf("the same mesh again: %+v, %v; want the same revision, not moved", again, err)
	}
	rev.AppliedBy = "someone-else"
	second, err := Publish(t.Context(), st, rev, now)
	if err != nil || !second.Moved || second.Previous != first.ID {
		t.Fatalf("a changed mesh: %+v, %v", second, err)
	}
	got, id, err := Load(t.Context(), st, refresh.RevisionCurrent)
	if err != nil || id != second.ID || got.AppliedBy != "someone-else" {
		t.Fatalf("current: %s %q, %v", id, got.AppliedBy, err)
	}
	if _, _, err := Load(t.Context(), st, first.ID); err != nil {
		t.Fatalf("an older revision stays readable: %v", err)
	}
	res, err := got.Resolve(id, "finance/kpis")
	if err != nil || len(res.Downstream) != 2 || res.Downstream["board/deck"].Name != "deck" || res.AppliedBy != "someone-else" || len(res.Keys) != 1 {
		t.Fatalf("resolve: %+v, %v; want both products downstream", res, err)
	}
	if _, err := got.Resolve(id, "finance/nope"); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("an unknown product: %v", err)
	}
	for _, bad := range []string{"nope", strings.Repeat("0", 64), "../current"} {
		if _, _, err := Load(t.Context(), st, bad); !errors.Is(err, ErrNoRevision) {
			t.Errorf("Load(%q): %v, want ErrNoRevision", bad, err)
		}
	}
	// A revision edited in place in the store no longer matches its ID.
	b, _, _ := rev.Encode()
	tampered := bytes.Replace(b, []byte(`"maria"`), []byte(`"mallory"`), 1)
	if _, err := st.Put(t.Context(), Key(second.ID), bytes.NewReader(tampered), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(t.Context(), st, second.ID); err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("a tampered revision: %v", err)
	}
}

func TestLoadWithoutApply(t *testing.T) {
	st, _ := storage.OpenLocal(t.TempDir())
	if _, _, err := Load(t.Context(), st, ""); !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "meshflow apply") {
		t.Fatalf("no mesh applied: %v", err)
	}
}

func TestVerifyApprovals(t *testing.T) {
	st, _ := storage.OpenLocal(t.TempDir())
	s, _ := signing.NewSigner()
	p, err := Publish(t.Context(), st, revision(t, s), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := refresh.Manifest{Product: "finance/kpis", WorkflowID: "refresh/finance/kpis/1", MeshRevision: p.ID, Submitter: "ana"}
	approval := func(who, comment string) refresh.Approval {
		_, proof := s.Sign(refresh.DecisionStatement(m.WorkflowID, m.Product, who, true, comment, "h1"), time.Now())
		return refresh.Approval{Principal: who, Decision: "approve", Comment: comment, ManifestHash: "h1", Proof: &proof}
	}
	m.Approvals = []refresh.Approval{approval("maria", "ok"), approval("carl", "consumer ok")}
	if errs := VerifyApprovals(t.Context(), st, m); len(errs) != 0 {
		t.Fatalf("the product's steward and its consumer's: %v", errs)
	}
	unsigned := approval("maria", "ok")
	unsigned.Proof = nil
	edited := approval("maria", "ok")
	edited.Comment = "edited later"
	for name, a := range map[string]refresh.Approval{"unsigned": unsigned, "edited comment": edited, "not an approver": approval("mallory", "")} {
		bad := m
		bad.Approvals = []refresh.Approval{a}
		if errs := VerifyApprovals(t.Context(), st, bad); len(errs) != 1 || !errors.Is(errs[0], ErrUnproven) {
			t.Errorf("%s: %v, want one ErrUnproven", name, errs)
		}
	}
	self := m
	self.Submitter = "maria"
	self.Approvals = []refresh.Approval{approval("maria", "ok")}
	if errs := VerifyApprovals(t.Context(), st, self); len(errs) != 1 {
		t.Errorf("the submitter's own approval: %v", errs)
	}
	legacy := refresh.Manifest{Product: "finance/kpis", Approvals: []refresh.Approval{{Principal: "maria", Decision: "approve"}}}
	if errs := VerifyApprovals(t.Context(), st, legacy); len(errs) != 0 {
		t.Errorf("a manifest from before revisions: %v", errs)
	}
}

// TestBuildCarriesNotifications: the revision routes notifications as
// mesh.yaml does, and a mesh without them hashes as before (no key).
func TestBuildCarriesNotifications(t *testing.T) {
	dir := meshtest.CopyExample(t)
	s, _ := signing.NewSigner()
	set, ds := spec.Load(dir)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	plain, err := Build(set, "ci", []signing.PublicKey{s.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if b, _, _ := plain.Encode(); bytes.Contains(b, []byte(`"notifications"`)) {
		t.Error("a revision without notifications has the key")
	}
	meshtest.Edit(t, dir, "mesh.yaml", "notifications: []", `notifications:
  - {name: finance-stewards, webhook: "https://hooks.example.com/T000", format: teams, events: [approval-requested, published], domains: [finance]}`)
	if set, ds = spec.Load(dir); ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	rev, err := Build(set, "ci", []signing.PublicKey{s.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rev.Notifications) != 1 || rev.Notifications[0].Format != spec.FormatTeams || rev.Notifications[0].Domains[0] != "finance" {
		t.Errorf("notifications %+v", rev.Notifications)
	}
}
