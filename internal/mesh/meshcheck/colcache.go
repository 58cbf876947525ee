package meshcheck

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/meshflow/meshflow/internal/engine"
)

// columnCache remembers the columns DuckDB sniffed from a mesh's local input
// files, by the files' paths, sizes and modification times and the input's
// format options, in the user's cache folder: validating a mesh again does
// not read files that did not change, which is most of what validate costs.
// MESHFLOW_CACHE_DIR names another folder; "off" keeps no cache.
type columnCache struct {
	file    string // "" keeps nothing
	entries map[string]cachedColumns
	dirty   bool
}

type cachedColumns struct {
	Columns []engine.Column `json:"columns"`
	Used    time.Time       `json:"used"`
}

// maxCachedInputs bounds the cache; the least recently used entries go.
const maxCachedInputs = 1000

// columnCacheFile returns where the cache lives, or "" for none.
func columnCacheFile() string {
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
	return filepath.Join(dir, "sniffed-columns.json")
}

// loadColumnCache reads the cache; a missing or unreadable one is empty.
func loadColumnCache() *columnCache {
	c := &columnCache{file: columnCacheFile(), entries: map[string]cachedColumns{}}
	if c.file == "" {
		return c
	}
	if b, err := os.ReadFile(c.file); err == nil {
		_ = json.Unmarshal(b, &c.entries) // a damaged cache is rebuilt
	}
	return c
}

// key identifies what sniffing in would find: the files as they are now and
// the options they are read with. ok is false when a file cannot be stat'ed.
func (c *columnCache) key(in engine.Input) (string, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00%s\x00", in.Format, in.Delimiter, in.Header == nil || *in.Header, in.BadRows)
	for _, f := range in.Files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", false
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

func (c *columnCache) get(key string) ([]engine.Column, bool) {
	e, ok := c.entries[key]
	if ok {
		e.Used = time.Now().UTC()
		c.entries[key], c.dirty = e, true
	}
	return e.Columns, ok
}

func (c *columnCache) put(key string, cols []engine.Column) {
	c.entries[key], c.dirty = cachedColumns{Columns: cols, Used: time.Now().UTC()}, true
}

// save writes the cache back, atomically, when it changed; a cache that
// cannot be written is only a slower next validate.
func (c *columnCache) save() {
	if c.file == "" || !c.dirty {
		return
	}
	if len(c.entries) > maxCachedInputs {
		keys := make([]string, 0, len(c.entries))
		for k := range c.entries {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return c.entries[b].Used.Compare(c.entries[a].Used) })
		for _, k := range keys[maxCachedInputs:] {
			delete(c.entries, k)
		}
	}
	b, err := json.Marshal(c.entries)
	if err != nil || os.MkdirAll(filepath.Dir(c.file), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.file), ".sniffed-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), c.file) != nil {
		_ = os.Remove(tmp.Name())
	}
}
