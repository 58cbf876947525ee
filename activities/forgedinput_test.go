package activities

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TestForgedInputPointersAreNotRead: an input product of the run's own domain
// whose latest pointer names another product's manifest, or whose manifest
// names another product's data, is refused as unauthorized, without retries,
// and nothing of the other product is staged.
func TestForgedInputPointersAreNotRead(t *testing.T) {
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	putJSON := func(key string, v any) {
		b, _ := json.Marshal(v)
		if _, err := st.Put(t.Context(), key, bytes.NewReader(b), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := st.Put(t.Context(), "other/secret/v1.0.0/data.parquet", strings.NewReader("PAR1 secret rows"), storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret := refresh.Manifest{Product: "other/secret", Version: "1.0.0", RunID: "r-secret", Data: refresh.ObjectRef{Key: data.Key, Size: data.Size, SHA256: data.SHA256}}
	putJSON(layout.ManifestKey("other/secret", "1.0.0"), secret)
	putJSON(layout.LatestKey("other/secret"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("other/secret", "1.0.0"), RunID: "r-secret"})
	// sec/alias: a pointer to other/secret's manifest.
	putJSON(layout.LatestKey("sec/alias"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("other/secret", "1.0.0"), RunID: "r-secret"})
	// sec/leak: its own manifest, naming other/secret's data.
	leak := secret
	leak.Product, leak.RunID = "sec/leak", "r-leak"
	putJSON(layout.ManifestKey("sec/leak", "1.0.0"), leak)
	putJSON(layout.LatestKey("sec/leak"), layout.Latest{Version: "1.0.0", ManifestKey: layout.ManifestKey("sec/leak", "1.0.0"), RunID: "r-leak"})

	a := &Activities{Store: st, Scratch: t.TempDir(), Threads: 1}
	for _, upstream := range []string{"sec/alias", "sec/leak"} {
		t.Run(upstream, func(t *testing.T) {
			p := applyProducts(t, st, refresh.Product{Domain: "sec", Name: "reader", Owner: "sec-data", SQL: "SELECT * FROM orders",
				Inputs: []refresh.Input{{Name: "orders", Product: upstream, Access: refresh.AccessOpen}}})[0]
			runAs(a, "run-"+strings.ReplaceAll(upstream, "/", "-"))
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(a.Ingest)
			_, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: "run-" + strings.ReplaceAll(upstream, "/", "-")})
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized || !app.NonRetryable() {
				t.Fatalf("Ingest of %s: %v; want a non-retryable %s", upstream, err, refresh.ErrUnauthorized)
			}
			objs, err := st.List(t.Context(), "_staging/")
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
			if len(objs) > 0 {
				t.Fatalf("the forged input staged %s", objs[0].Key)
			}
		})
	}
}
