package serve

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// deprecationMesh has a product whose owner team, domain steward and an
// outsider are three different people.
var deprecationMesh = map[string]string{
	"mesh.yaml": `apiVersion: meshflow/v1
kind: Mesh
metadata: {name: m}
domains:
  - {name: aviation, owners: [aviation-team], stewards: [stella]}
  - {name: film, owners: [film-team], stewards: [fred]}
principals:
  - {name: olly, roles: [engineer]}
  - {name: stella, roles: [steward]}
  - {name: fred, roles: [steward]}
  - {name: aviation-team, kind: team, members: [olly]}
  - {name: film-team, kind: team, members: [fred]}
`,
	"aviation/airports.yaml": `apiVersion: meshflow/v1
kind: DataProduct
metadata: {name: airports, domain: aviation, owner: aviation-team, description: d}
inputs:
  - {name: raw, uri: file://data/a.csv}
transform: {sql: SELECT 1 AS code}
contract: airports.odcs.yaml
`,
	"aviation/airports.odcs.yaml": `apiVersion: v3.1.0
kind: DataContract
id: airports
version: 1.0.0
status: active
schema:
  - name: airports
    properties:
      - {name: code, logicalType: integer}
`,
}

// TestDeprecateAuthorization: the product's owner team and its domain's
// steward may deprecate a published major; another domain's steward may
// not, whatever the body says; a bad date or major is a 400, a major never
// published a 404. The record names the authenticated principal.
func TestDeprecateAuthorization(t *testing.T) {
	dir := t.TempDir()
	for name, body := range deprecationMesh {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, ds := spec.Load(dir)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const ref = "aviation/airports"
	publish(t, st, ref, "1.0.0", "", []byte("PAR1 data PAR1"))
	tokens := map[string]string{}
	var principals []spec.Principal
	for _, p := range []string{"olly", "stella", "fred"} {
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
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	srv, err := New(Config{Runs: noRuns{}, Auth: authn, Registry: prometheus.NewRegistry(), Store: st, Mesh: set, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	post := func(who, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if who != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[who])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("answer is not JSON: %v", err)
		}
		return resp.StatusCode, out
	}
	path := "/api/v1/products/" + ref + "/deprecations"
	for _, c := range []struct {
		who, path, body string
		status          int
		code            string
	}{
		{"", path, `{"major":1,"on":"2027-03-01"}`, 401, "unauthenticated"},
		{"fred", path, `{"major":1,"on":"2027-03-01"}`, 403, "refused"},
		{"fred", path, `{"major":1,"on":"2027-03-01","by":"stella"}`, 400, "unknown_field"},
		{"olly", path, `{"major":1,"on":"01/03/2027"}`, 400, "bad_request"},
		{"olly", path, `{"on":"2027-03-01"}`, 400, "missing_field"},
		{"olly", path, `{"major":2,"on":"2027-03-01"}`, 404, "unknown_major"},
		{"olly", "/api/v1/products/aviation/nothing/deprecations", `{"major":1,"on":"2027-03-01"}`, 404, "unknown_product"},
		{"olly", path, `{"major":1,"on":"2027-03-01","note":"use @2"}`, 201, ""},
		{"stella", path, `{"major":1,"on":"2027-04-01","note":"moved: use @2"}`, 201, ""},
	} {
		status, out := post(c.who, c.path, c.body)
		if status != c.status || (c.code != "" && out["code"] != c.code) {
			t.Errorf("%s posts %s: %d %v, want %d %s", c.who, c.body, status, out, c.status, c.code)
		}
	}
	d, err := catalog.ReadDeprecation(t.Context(), st, ref, 1)
	if err != nil || d == nil {
		t.Fatalf("deprecation %v, %v", d, err)
	}
	if want := (refresh.Deprecation{Product: ref, Major: 1, On: "2027-04-01", Note: "moved: use @2", By: "stella", At: now}); *d != want {
		t.Errorf("recorded %+v, want %+v", *d, want)
	}
}
