package contract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/diag"
	"github.com/meshflow/meshflow/internal/mesh/yamlfile"
)

const acceptedValid = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: active\n"

// acceptedInvalid has a status the schema does not allow.
const acceptedInvalid = "apiVersion: v3.1.0\nkind: DataContract\nid: orders\nversion: 1.0.0\nstatus: [not, a, status]\n"

// loadErrors loads data as file and returns its error diagnostics' text.
func loadErrors(t *testing.T, file, data string) string {
	t.Helper()
	var ds diag.List
	Load(file, []byte(data), &ds)
	var out []string
	for _, d := range ds.Items() {
		if d.Severity == diag.Error {
			out = append(out, d.Message)
		}
	}
	return strings.Join(out, "; ")
}

// TestAcceptedDocumentsAreRemembered: with RememberAccepted, a document the
// schema accepted is kept in the cache folder and not checked by the schema
// again (a cache that names a refused document's key lets it through,
// which shows that the cache is what decided); a refused document is never
// kept, and without RememberAccepted every document is checked.
func TestAcceptedDocumentsAreRemembered(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MESHFLOW_CACHE_DIR", dir)
	t.Cleanup(func() { accepted.Store(nil) })

	save := RememberAccepted()
	if msg := loadErrors(t, "valid.odcs.yaml", acceptedValid); msg != "" {
		t.Fatalf("valid contract: %s", msg)
	}
	if msg := loadErrors(t, "invalid.odcs.yaml", acceptedInvalid); !strings.Contains(msg, "status") {
		t.Fatalf("invalid contract: %q; want an error about its status", msg)
	}
	save()
	b, err := os.ReadFile(filepath.Join(dir, acceptedCacheName))
	if err != nil {
		t.Fatalf("no cache after loading: %v", err)
	}
	if n := strings.Count(string(b), `"used"`); n != 1 {
		t.Fatalf("cache holds %d documents, want only the accepted one: %s", n, b)
	}

	// A later command reads the cache: a document in it skips the schema.
	doc, ok := yamlfile.Parse("invalid.odcs.yaml", []byte(acceptedInvalid), &diag.List{})
	if !ok {
		t.Fatal("the invalid contract is not YAML")
	}
	accepted.Store(nil)
	RememberAccepted()
	accepted.Load().Put(acceptedKey(yamlfile.Value(doc.Root)), true)
	if msg := loadErrors(t, "invalid.odcs.yaml", acceptedInvalid); strings.Contains(msg, "status") {
		t.Errorf("a document in the cache was checked by the schema again: %s", msg)
	}

	// Without RememberAccepted, the schema checks every document.
	accepted.Store(nil)
	if msg := loadErrors(t, "invalid.odcs.yaml", acceptedInvalid); !strings.Contains(msg, "status") {
		t.Errorf("without the cache: %q; want an error about its status", msg)
	}
}
