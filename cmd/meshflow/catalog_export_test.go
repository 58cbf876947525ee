package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/interop/odps"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/publish/publishtest"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

// TestCatalogExportODPS: `meshflow catalog export --format odps` prints every
// product of the example mesh as a document that follows the official ODPS
// schema, as YAML by default and as JSON with --json, and fails for a product
// that was never published.
func TestCatalogExportODPS(t *testing.T) {
	set, ds := spec.Load(exampleMesh)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	published := publishtest.PublishMesh(t, st, set)
	for ref, m := range published {
		for _, format := range []string{"yaml", "json"} {
			args := []string{"catalog", "export", ref, "--format", "odps", "--store", dir, "--mesh", exampleMesh, "--public-url", "https://meshflow.example.com"}
			if format == "json" {
				args = append(args, "--json")
			}
			var out, errOut bytes.Buffer
			if err := run(t.Context(), args, &out, &errOut); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, errOut.String())
			}
			if err := odps.Validate(out.Bytes()); err != nil {
				t.Errorf("%s as %s: %v\n%s", ref, format, err, out.String())
			}
			var doc odps.Product
			if format == "json" {
				err = json.Unmarshal(out.Bytes(), &doc)
			} else {
				if json.Valid(out.Bytes()) {
					t.Errorf("%s: the default output is JSON, want YAML", ref)
				}
				err = yaml.Unmarshal(out.Bytes(), &doc)
			}
			if err != nil {
				t.Fatalf("%s as %s does not parse: %v", ref, format, err)
			}
			if doc.Domain+"/"+doc.Name != ref || doc.Version != m.Version || doc.ID != odps.ProductID(ref) || doc.Team == nil || len(doc.ManagementPorts) != 3 {
				t.Errorf("%s as %s: %+v", ref, format, doc)
			}
		}
	}

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"catalog", "export", "--store", dir, "--mesh", exampleMesh, "finance/nothing"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "finance/nothing has no published version") {
		t.Errorf("export of an unknown product: %v", err)
	}
	if err := run(t.Context(), []string{"catalog", "export", "--store", dir, "--format", "dcat", "finance/fx-rates"}, &out, &errOut); err == nil {
		t.Error("--format dcat succeeded")
	}
	if err := run(t.Context(), []string{"catalog", "export", "--store", dir, "--mesh", t.TempDir(), "finance/fx-rates"}, &out, &errOut); err == nil ||
		!strings.Contains(err.Error(), "no readable") {
		t.Errorf("--mesh without mesh.yaml: %v", err)
	}
}

// TestServeRoutesODPS: the handler meshflow serve and dev build routes
// /api/v1/products/<domain>/<name>/odps to the catalog (not to the API's data
// routes beside it): a valid document for a published product, 404
// unknown_product for another.
func TestServeRoutesODPS(t *testing.T) {
	set, ds := spec.Load(exampleMesh)
	if ds.HasErrors() {
		t.Fatal(ds.Err())
	}
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	publishtest.PublishMesh(t, st, set)
	authn, err := auth.NewTokens(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(prometheus.NewRegistry(), &control.Client{}, authn, slog.New(slog.NewTextHandler(io.Discard, nil)), st, set, "", "https://meshflow.example.com", serve.QueryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, body := get("/api/v1/products/finance/global-kpis/odps")
	if status != http.StatusOK {
		t.Fatalf("GET …/finance/global-kpis/odps: %d %s", status, body)
	}
	if err := odps.Validate(body); err != nil || !bytes.Contains(body, []byte(`"url":"https://meshflow.example.com/products/finance/global-kpis"`)) {
		t.Errorf("GET …/finance/global-kpis/odps: %v\n%s", err, body)
	}
	status, body = get("/api/v1/products/finance/nothing/odps")
	var e api.Error
	if status != http.StatusNotFound || json.Unmarshal(body, &e) != nil || e.Code != "unknown_product" {
		t.Errorf("GET …/finance/nothing/odps: %d %s, want 404 unknown_product", status, body)
	}
	// The data route beside it still belongs to the API, which needs a principal.
	if status, body := get("/api/v1/products/finance/global-kpis/data"); status != http.StatusUnauthorized {
		t.Errorf("GET …/finance/global-kpis/data anonymously: %d %s", status, body)
	}
}
