package meshcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/usercache"
)

// TestSniffedColumnsAreCached: validating a mesh leaves the columns sniffed
// from its local files in the cache folder, and validating it again binds
// over the cached columns without reading the files: a cache edited to name
// other columns makes the SQL fail to bind. Once a file changes (its
// modification time), it is sniffed again. MESHFLOW_CACHE_DIR=off keeps none.
func TestSniffedColumnsAreCached(t *testing.T) {
	dir := meshtest.Example(t)
	cacheDir := t.TempDir()
	t.Setenv("MESHFLOW_CACHE_DIR", cacheDir)
	if err := Check(t.Context(), dir).Diagnostics.Err(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(cacheDir, "sniffed-columns.json")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no cache after validate: %v", err)
	}
	var entries map[string]usercache.Entry[[]engine.Column]
	if err := json.Unmarshal(b, &entries); err != nil || len(entries) == 0 {
		t.Fatalf("cache %s: %d entries, %v", b, len(entries), err)
	}
	for k, e := range entries {
		e.Value = []engine.Column{{Name: "not_in_the_file", Type: "INTEGER"}}
		entries[k] = e
	}
	if b, err = json.Marshal(entries); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Check(t.Context(), dir).Diagnostics.Err()
	if err == nil || !strings.Contains(err.Error(), "not_in_the_file") {
		t.Fatalf("validate with the edited cache: %v; want the SQL not to bind over the cached columns", err)
	}

	// Touched files are sniffed again.
	later := time.Now().Add(time.Minute)
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".yaml") {
			err = os.Chtimes(p, later, later)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(t.Context(), dir).Diagnostics.Err(); err != nil {
		t.Fatalf("validate after the files changed: %v", err)
	}

	t.Setenv("MESHFLOW_CACHE_DIR", "off")
	if c := loadColumnCache(); c.Path() != "" {
		t.Errorf("MESHFLOW_CACHE_DIR=off keeps a cache in %s", c.Path())
	}
}
