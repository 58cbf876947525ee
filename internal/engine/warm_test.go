package engine

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/testwait"
)

func warmCount() int {
	warm.Lock()
	defer warm.Unlock()
	return len(warm.dbs)
}

// TestWarmInstancesAreSandboxedLikeNewOnes: with KeepWarm, an instance is
// created ahead of time and replaced once taken, and the one Open hands out
// is configured and sandboxed as a new one is: its settings hold, and it
// reads nothing outside its folders.
func TestWarmInstancesAreSandboxedLikeNewOnes(t *testing.T) {
	KeepWarm(1)
	t.Cleanup(func() { KeepWarm(0) })
	testwait.For(t, 30*time.Second, "a warm instance", func() bool { return warmCount() == 1 })
	dir := filepath.Join(t.TempDir(), "scratch")
	db, err := Open(t.Context(), dir, 1, "64MB", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testwait.For(t, 30*time.Second, "the taken instance replaced", func() bool { return warmCount() == 1 })
	var threads int
	var limit string
	if err := db.QueryRowContext(t.Context(), "SELECT current_setting('threads'), current_setting('memory_limit')").Scan(&threads, &limit); err != nil {
		t.Fatal(err)
	}
	if threads != 1 || limit == "" {
		t.Errorf("threads %d, memory limit %q; want the settings of Open", threads, limit)
	}
	if _, err := db.ExecContext(t.Context(), "SELECT * FROM read_text('/etc/passwd')"); err == nil {
		t.Error("a warm instance read /etc/passwd")
	}
	if _, err := db.ExecContext(t.Context(), "SET enable_external_access = true"); err == nil {
		t.Error("a warm instance's configuration is not locked")
	}
}

// TestBinderKeepsQueriesApart: queries bound one after another by one
// Binder see only their own tables, even tables of the same name with other
// columns, and a query over a table that only an earlier query had fails to
// bind, as it would in an instance of its own.
func TestBinderKeepsQueriesApart(t *testing.T) {
	b := NewBinder(filepath.Join(t.TempDir(), "bind"))
	defer b.Close()
	cols, err := b.Bind(t.Context(), []Table{{Name: "orders", Columns: []Column{{Name: "id", Type: "BIGINT"}}}}, "SELECT id FROM orders")
	if err != nil || len(cols) != 1 || cols[0].Name != "id" {
		t.Fatalf("first query: %+v, %v", cols, err)
	}
	cols, err = b.Bind(t.Context(), []Table{{Name: "orders", Columns: []Column{{Name: "city", Type: "VARCHAR"}}}}, "SELECT city FROM orders")
	if err != nil || len(cols) != 1 || cols[0].Name != "city" {
		t.Fatalf("a table of the same name with other columns: %+v, %v", cols, err)
	}
	if _, err := b.Bind(t.Context(), nil, "SELECT id FROM orders"); err == nil {
		t.Fatal("a query bound over a table of an earlier query")
	} else if _, ok := err.(*BindError); !ok {
		t.Fatalf("a query over a missing table: %v; want a BindError", err)
	}
}
