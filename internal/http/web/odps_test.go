package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// TestODPSRoute: GET /api/v1/products/<domain>/<name>/odps answers every
// product of the example mesh as an ODPS document that follows the official
// schema, with camelCase keys and management ports on this server; store
// locations only for the signed in; 404 in the API's error format for a
// product that was never published.
func TestODPSRoute(t *testing.T) {
	set, ds := spec.Load("../../../examples/mesh")
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	published := publishtest.PublishMesh(t, st, set)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(New(Deps{Store: st, Mesh: set, Auth: tokens{"tok-maria": "maria.rossi"}, Logger: logger}))
	t.Cleanup(srv.Close)
	session := signIn(t, srv, "tok-maria")
	root := st.Root()

	for ref, m := range published {
		resp, err := http.Get(srv.URL + "/api/v1/products/" + ref + "/odps")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s %s", ref, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if err := odps.Validate(body); err != nil {
			t.Errorf("%s: %v\n%s", ref, err, body)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if bad := nonCamelKeys(v, ""); len(bad) > 0 {
			t.Errorf("%s: keys that are not camelCase: %v", ref, bad)
		}
		var doc odps.Product
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Domain+"/"+doc.Name != ref || doc.Version != m.Version || doc.Team == nil || len(doc.ManagementPorts) != 3 ||
			doc.ManagementPorts[0].URL != srv.URL+"/products/"+ref {
			t.Errorf("%s: %s", ref, body)
		}
		if strings.Contains(string(body), root) || strings.Contains(string(body), "file:") || strings.Contains(string(body), "@acme.example") {
			t.Errorf("%s anonymously shows a store path, a local file or an e-mail address (%s):\n%s", ref, root, body)
		}
		signedIn := ""
		if _, signedIn = getAs(t, srv, session, "/api/v1/products/"+ref+"/odps"); !strings.Contains(signedIn, `"location"`) || !strings.Contains(signedIn, root) {
			t.Errorf("%s signed in: the data's location is missing:\n%s", ref, signedIn)
		}
		if !strings.Contains(signedIn, "@acme.example") {
			t.Errorf("%s signed in: the team's e-mail addresses are missing:\n%s", ref, signedIn)
		}
	}

	// The public URL, when set, is the base of the management ports.
	pub := httptest.NewServer(New(Deps{Store: st, Mesh: set, Logger: logger, PublicURL: "https://meshflow.example.com/"}))
	t.Cleanup(pub.Close)
	status, body := getAs(t, pub, nil, "/api/v1/products/finance/global-kpis/odps")
	if status != http.StatusOK || !strings.Contains(body, `"url":"https://meshflow.example.com/metrics"`) || strings.Contains(body, pub.URL) {
		t.Errorf("with a public URL: %d %s", status, body)
	}

	for _, path := range []string{"/api/v1/products/finance/nothing/odps", "/api/v1/products/nothing/global-kpis/odps"} {
		status, body := getAs(t, srv, nil, path)
		var e struct{ Code, Error string }
		if status != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Code != "unknown_product" || !strings.HasSuffix(e.Error, "has no published version") {
			t.Errorf("GET %s: %d %s, want 404 unknown_product", path, status, body)
		}
	}
}
