package meshcheck

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/usercache"
)

// columnCache remembers the columns DuckDB sniffed from a mesh's local input
// files, by the files' paths, sizes and modification times and the input's
// format options, in the user's cache folder (usercache.Dir): validating a
// mesh again does not read files that did not change, which is most of what
// validate costs.
type columnCache struct {
	*usercache.File[[]engine.Column]
}

// columnCacheName is the cache's file in the user's cache folder.
const columnCacheName = "sniffed-columns.json"

// maxCachedInputs bounds the cache; the least recently used entries go.
const maxCachedInputs = 1000

// loadColumnCache reads the cache; a missing or unreadable one is empty.
func loadColumnCache() columnCache {
	return columnCache{usercache.Open[[]engine.Column](columnCacheName, maxCachedInputs)}
}

// key identifies what sniffing in would find: the files as they are now and
// the options they are read with. ok is false when a file cannot be stat'ed.
func (c columnCache) key(in engine.Input) (string, bool) {
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
