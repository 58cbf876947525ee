package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/meshflow/meshflow/internal/usercache"
)

// accepted, once RememberAccepted set it, holds the contract documents the
// ODCS schema accepted, by a hash of the schema and of the document.
var accepted atomic.Pointer[usercache.File[bool]]

// acceptedCacheName is the cache's file in the user's cache folder, and
// maxAccepted bounds it.
const (
	acceptedCacheName = "odcs-accepted.json"
	maxAccepted       = 5000
)

// RememberAccepted makes Load skip the ODCS schema for documents the schema
// accepted before, in this process or in an earlier command (see usercache):
// compiling the schema is most of what loading a contract costs a command
// that runs for a moment, such as validate or diff. A document the schema
// refused is checked again every time, so its errors are always reported.
// The returned function writes what was learned back; call it before the
// command ends.
func RememberAccepted() (save func()) {
	f := usercache.Open[bool](acceptedCacheName, maxAccepted)
	accepted.Store(f)
	return f.Save
}

// schemaSum identifies the embedded schema.
var schemaSum = sync.OnceValue(func() []byte {
	sum := sha256.Sum256(schemaJSON)
	return sum[:]
})

// acceptedKey identifies what the schema validates: the schema and the
// document's value as JSON; "" when the value has no JSON form.
func acceptedKey(value any) string {
	b, err := json.Marshal(value)
	if err != nil {
		return ""
	}
	h := sha256.New()
	h.Write(schemaSum())
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
