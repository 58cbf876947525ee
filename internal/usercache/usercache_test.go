package usercache

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFileKeepsTheMostRecentlyUsed: a cache saved and opened again holds
// what was put in it, at most max entries, the least recently used gone; a
// damaged file is an empty cache, and MESHFLOW_CACHE_DIR=off keeps nothing.
func TestFileKeepsTheMostRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MESHFLOW_CACHE_DIR", dir)
	f := Open[int]("numbers.json", 2)
	f.Put("one", 1)
	f.Put("two", 2)
	f.Put("three", 3)
	f.Get("one") // used last: stays
	f.Save()

	g := Open[int]("numbers.json", 2)
	if v, ok := g.Get("one"); !ok || v != 1 {
		t.Errorf("one: %d, %v; want 1 kept", v, ok)
	}
	if _, ok := g.Get("two"); ok {
		t.Error("two is kept; want the least recently used gone")
	}
	if v, ok := g.Get("three"); !ok || v != 3 {
		t.Errorf("three: %d, %v; want 3 kept", v, ok)
	}

	if err := os.WriteFile(filepath.Join(dir, "numbers.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := Open[int]("numbers.json", 2).Get("one"); ok {
		t.Error("a damaged cache file gave a value")
	}

	t.Setenv("MESHFLOW_CACHE_DIR", "off")
	off := Open[int]("numbers.json", 2)
	off.Put("four", 4)
	if _, ok := off.Get("four"); ok || off.Path() != "" {
		t.Errorf("with caching off the cache kept a value (path %q)", off.Path())
	}
}
