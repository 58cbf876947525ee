package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// noRuns stands in for Temporal: the data endpoints do not use it.
type noRuns struct{}

func (noRuns) Runs(context.Context, string, refresh.Stage, int) ([]control.Run, error) {
	return nil, nil
}
func (noRuns) Status(context.Context, string, string) (refresh.Status, error) {
	return refresh.Status{}, nil
}
func (noRuns) Decide(context.Context, string, string, refresh.Decision) (refresh.Status, error) {
	return refresh.Status{}, nil
}

// publish writes a published version of a product straight into the store.
func publish(t *testing.T, st storage.Store, ref, version, previous string, data []byte) refresh.ObjectRef {
	t.Helper()
	ctx := t.Context()
	sum := sha256.Sum256(data)
	obj := refresh.ObjectRef{Key: ref + "/v" + version + "/data.parquet", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	put := func(key string, b []byte) {
		if _, err := st.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(obj.Key, data)
	m, _ := json.Marshal(refresh.Manifest{Product: ref, Version: version, Previous: previous, Data: obj})
	put(ref+"/v"+version+"/manifest.json", m)
	l, _ := json.Marshal(map[string]string{"version": version, "manifestKey": ref + "/v" + version + "/manifest.json"})
	put(ref+"/latest.json", l)
	return obj
}

func TestDataAccessFollowsGrants(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref := "finance/global-kpis"
	publish(t, st, ref, "1.0.0", "", []byte("old parquet bytes"))
	publish(t, st, ref, "1.0.5", "1.0.0", []byte("a claim that lost")) // never named by latest's chain
	latest := publish(t, st, ref, "1.1.0", "1.0.0", []byte("PAR1 the published data PAR1"))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := now
	recordProvenGrant(t, st, access.Grant{ID: "g1", Product: ref, Principal: "anna", GrantedBy: "maria",
		GrantedAt: now.Add(-time.Hour), ExpiresAt: now.Add(5 * time.Minute), WorkflowID: "access/x"})
	tokens := map[string]string{}
	var principals []spec.Principal
	for _, p := range []string{"maria", "anna", "tom"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[p] = tok
		principals = append(principals, spec.Principal{Name: p, TokenHash: hash})
	}
	authn, err := auth.NewTokens(principals)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Runs: noRuns{}, Auth: authn, Registry: reg, Store: st, Now: func() time.Time { return clock },
		Readers: func(r string) []string {
			if r == ref {
				return []string{"maria"}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	get := func(path, who string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[who])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cases := []struct {
		name, path, who string
		status          int
		body            string
	}{
		{"steward reads latest", "/api/v1/products/finance/global-kpis/data", "maria", 200, "PAR1 the published data PAR1"},
		{"grantee reads an older version", "/api/v1/products/finance/global-kpis/data?version=1.0.0", "anna", 200, "old parquet bytes"},
		{"no grant", "/api/v1/products/finance/global-kpis/data", "tom", 403, "tom has no access to finance/global-kpis"},
		{"no token", "/api/v1/products/finance/global-kpis/data", "", 401, "not authenticated"},
		{"lost claim", "/api/v1/products/finance/global-kpis/data?version=1.0.5", "maria", 404, `has no published version`},
		{"unknown version", "/api/v1/products/finance/global-kpis/data?version=9.9.9", "maria", 404, `has no published version`},
		{"unknown product", "/api/v1/products/finance/nothing/data", "maria", 403, "maria has no access to finance/nothing"},
		{"forged link", "/api/v1/links/eyJrIjoiYSJ9.AAAA", "", 403, "malformed, forged or expired"},
	}
	for _, tc := range cases {
		resp, body := get(tc.path, tc.who)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s: got %d %q, want %d containing %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	if resp, _ := get("/api/v1/products/finance/global-kpis/data", "maria"); resp.Header.Get("X-Meshflow-SHA256") != latest.SHA256 {
		t.Errorf("checksum header %q, want %q", resp.Header.Get("X-Meshflow-SHA256"), latest.SHA256)
	}

	// A link for the grantee expires with the grant (5 minutes, under the 15-minute cap).
	resp, body := get("/api/v1/products/finance/global-kpis/link", "anna")
	var l linkJSON
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &l) != nil || !l.ExpiresAt.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("link: %d %s", resp.StatusCode, body)
	}
	if resp, body := get(l.URL, ""); resp.StatusCode != 200 || body != "PAR1 the published data PAR1" {
		t.Errorf("following the link: %d %q", resp.StatusCode, body)
	}
	clock = now.Add(6 * time.Minute)
	if resp, _ := get(l.URL, ""); resp.StatusCode != 403 {
		t.Errorf("an expired link answered %d, want 403", resp.StatusCode)
	}
	if resp, _ := get("/api/v1/products/finance/global-kpis/data", "anna"); resp.StatusCode != 403 {
		t.Errorf("an expired grant answered %d, want 403", resp.StatusCode)
	}
	if got := testutil.ToFloat64(srv.metrics.dataRefused); got != 5 {
		t.Errorf("refused data accesses counted %v, want 5", got)
	}
}
