// Package usercache keeps what client commands found out before, in small
// JSON files in the user's cache folder, so that running a command again does
// not repeat work whose inputs did not change. A cache is only ever a
// shortcut: a missing, damaged or unwritable one costs time, never a result.
package usercache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Dir returns the folder the caches live in: MESHFLOW_CACHE_DIR, or
// meshflow under the user's cache folder; "" when caching is off
// (MESHFLOW_CACHE_DIR=off) or the user has no cache folder.
func Dir() string {
	dir := os.Getenv("MESHFLOW_CACHE_DIR")
	if dir == "off" {
		return ""
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "meshflow")
	}
	return dir
}

// File is one cache: values by key, at most max of them, the least recently
// used going first. It is safe for concurrent use.
type File[V any] struct {
	mu      sync.Mutex
	path    string // "" keeps nothing
	max     int
	entries map[string]Entry[V]
	dirty   bool
}

// Entry is one cached value with when it was last used.
type Entry[V any] struct {
	Value V         `json:"value"`
	Used  time.Time `json:"used"`
}

// Open reads the cache file name in Dir; a missing or unreadable file is an
// empty cache, and with caching off nothing is read or kept.
func Open[V any](name string, max int) *File[V] {
	f := &File[V]{max: max, entries: map[string]Entry[V]{}}
	if dir := Dir(); dir != "" {
		f.path = filepath.Join(dir, name)
		if b, err := os.ReadFile(f.path); err == nil {
			_ = json.Unmarshal(b, &f.entries) // a damaged cache is rebuilt
		}
	}
	return f
}

// Path returns the file the cache is kept in, "" when caching is off.
func (f *File[V]) Path() string { return f.path }

// Get returns the value cached under key.
func (f *File[V]) Get(key string) (V, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[key]
	if ok && f.path != "" {
		e.Used = time.Now().UTC()
		f.entries[key], f.dirty = e, true
	}
	return e.Value, ok
}

// Put caches v under key.
func (f *File[V]) Put(key string, v V) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.path != "" {
		f.entries[key], f.dirty = Entry[V]{Value: v, Used: time.Now().UTC()}, true
	}
}

// Save writes the cache back, atomically, when it changed; a cache that
// cannot be written is only a slower next command.
func (f *File[V]) Save() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.path == "" || !f.dirty {
		return
	}
	if len(f.entries) > f.max {
		keys := make([]string, 0, len(f.entries))
		for k := range f.entries {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return f.entries[b].Used.Compare(f.entries[a].Used) })
		for _, k := range keys[f.max:] {
			delete(f.entries, k)
		}
	}
	b, err := json.Marshal(f.entries)
	dir := filepath.Dir(f.path)
	if err != nil || os.MkdirAll(dir, 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+"-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), f.path) != nil {
		_ = os.Remove(tmp.Name())
		return
	}
	f.dirty = false
}
