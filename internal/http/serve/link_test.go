package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/signing"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// linkFixture serves the API over a store with one published product and a
// grant for anna that lasts a day.
type linkFixture struct {
	st     storage.Store
	ts     *httptest.Server
	tokens map[string]string
	now    time.Time
}

const linkRef = "finance/global-kpis"

func newLinkFixture(t *testing.T, wrap func(storage.Store) storage.Store) *linkFixture {
	t.Helper()
	local, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &linkFixture{st: local, tokens: map[string]string{}, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	publish(t, local, linkRef, "1.0.0", "", []byte("PAR1 data PAR1"))
	recordProvenGrant(t, local, access.Grant{ID: "g1", Product: linkRef, Principal: "anna", GrantedBy: "maria",
		GrantedAt: f.now.Add(-time.Hour), ExpiresAt: f.now.Add(24 * time.Hour), WorkflowID: "access/x"})
	var principals []spec.Principal
	for _, p := range []string{"maria", "anna"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[p] = tok
		principals = append(principals, spec.Principal{Name: p, TokenHash: hash})
	}
	authn, err := auth.NewTokens(principals)
	if err != nil {
		t.Fatal(err)
	}
	st := storage.Store(local)
	if wrap != nil {
		st = wrap(local)
	}
	srv, err := New(Config{Runs: noRuns{}, Auth: authn, Registry: prometheus.NewRegistry(), Store: st, Now: func() time.Time { return f.now },
		Readers: func(string) []string { return []string{"maria"} }})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(srv)
	t.Cleanup(f.ts.Close)
	return f
}

// recordProvenGrant records a grant as the access workflow does: approved in
// a published mesh revision, with serve's signature of the approval.
func recordProvenGrant(t *testing.T, st storage.Store, g access.Grant) {
	t.Helper()
	signer, err := signing.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	rev := meshrev.Revision{Format: meshrev.Format, AppliedBy: g.GrantedBy, Keys: []signing.PublicKey{signer.PublicKey()},
		AccessApprovers: map[string][]string{g.Product: {g.GrantedBy}}}
	pub, err := meshrev.Publish(t.Context(), st, rev, g.GrantedAt)
	if err != nil {
		t.Fatal(err)
	}
	g.Revision = pub.ID
	// The approval proves a grant of the grantee's own request.
	g.WorkflowID = access.WorkflowID(g.Product, g.Principal, "test")
	_, proof := signer.Sign(g.Statement(), g.GrantedAt)
	g.Proof = &proof
	if _, err := grants.Record(t.Context(), st, g); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := grants.Check(t.Context(), st, g.Principal, g.Product, g.GrantedAt.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("the recorded grant does not check: %v, %v", ok, err)
	}
}

func (f *linkFixture) get(t *testing.T, path, who string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+path, nil)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *linkFixture) link(t *testing.T, who string) linkJSON {
	t.Helper()
	status, body := f.get(t, "/api/v1/products/"+linkRef+"/link", who)
	var l linkJSON
	if status != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("link for %s: %d %s", who, status, body)
	}
	return l
}

// TestLinkFollowsRevocation: a link served by meshflow checks the grant each
// time it is used, so revoking the grant ends a link handed out before.
func TestLinkFollowsRevocation(t *testing.T) {
	f := newLinkFixture(t, nil)
	l := f.link(t, "anna")
	if !l.ExpiresAt.Equal(f.now.Add(MaxLinkTTL)) {
		t.Errorf("link expires at %s, want %s (MaxLinkTTL)", l.ExpiresAt, f.now.Add(MaxLinkTTL))
	}
	if status, body := f.get(t, l.URL, ""); status != http.StatusOK || body != "PAR1 data PAR1" {
		t.Fatalf("following the link: %d %q", status, body)
	}
	if _, err := grants.Revoke(t.Context(), f.st, linkRef, "g1", "maria", "test", f.now); err != nil {
		t.Fatal(err)
	}
	status, body := f.get(t, l.URL, "")
	if status != http.StatusForbidden || !strings.Contains(body, "no_grant") || !strings.Contains(body, "anna") {
		t.Errorf("the link after the grant was revoked: %d %s, want 403 no_grant", status, body)
	}
	// The steward's link (no grant, a reader by the mesh) still works.
	if status, _ := f.get(t, f.link(t, "maria").URL, ""); status != http.StatusOK {
		t.Errorf("the steward's link: %d", status)
	}
	// A link is bound to its principal: editing the payload breaks the signature.
	tok := []byte(strings.TrimPrefix(l.URL, "/api/v1/links/"))
	tok[0] ^= 'A' ^ 'B' // another base64url character
	if status, _ := f.get(t, "/api/v1/links/"+string(tok), ""); status != http.StatusForbidden {
		t.Errorf("a tampered link: %d, want 403", status)
	}
}

// presigner is an S3-like store: it hands out presigned URLs and records their
// lifetime.
type presigner struct {
	storage.Store
	ttl time.Duration
}

func (p *presigner) PresignGet(_ context.Context, key string, ttl time.Duration) (string, error) {
	p.ttl = ttl
	return "https://s3.example/" + key + "?X-Amz-Expires=" + ttl.String(), nil
}

// TestPresignedLinksAreShort: a presigned URL cannot be revoked, so it lives at
// most MaxPresignTTL.
func TestPresignedLinksAreShort(t *testing.T) {
	var p *presigner
	f := newLinkFixture(t, func(st storage.Store) storage.Store {
		p = &presigner{Store: st}
		return p
	})
	l := f.link(t, "anna")
	if p.ttl <= 0 || p.ttl > MaxPresignTTL || MaxPresignTTL > 5*time.Minute {
		t.Errorf("presigned for %s, want at most %s (at most five minutes)", p.ttl, MaxPresignTTL)
	}
	if !strings.HasPrefix(l.URL, "https://s3.example/") || !l.ExpiresAt.Equal(f.now.Add(p.ttl)) {
		t.Errorf("link %+v", l)
	}
}

// TestAPIRoutesNeedAPrincipal: like the web pages' /runs, every API route but
// the metrics and the self-authenticating download links refuses an anonymous
// caller with 401.
func TestAPIRoutesNeedAPrincipal(t *testing.T) {
	f := newLinkFixture(t, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/approvals"},
		{http.MethodGet, "/api/v1/runs"},
		{http.MethodGet, "/api/v1/runs/refresh/finance/global-kpis/x"},
		{http.MethodPost, "/api/v1/decisions"},
		{http.MethodGet, "/api/v1/products/" + linkRef + "/data"},
		{http.MethodGet, "/api/v1/products/" + linkRef + "/link"},
	} {
		req, _ := http.NewRequest(tc.method, f.ts.URL+tc.path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s anonymously: %d, want 401", tc.method, tc.path, resp.StatusCode)
		}
	}
}
