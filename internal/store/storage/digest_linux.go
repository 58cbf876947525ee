//go:build linux

package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// digestAttr is the extended attribute holding "v1 <size> <mtime ns> <sha256>".
const digestAttr = "user.meshflow.sha256"

// writeDigest records sum as the digest of f, valid while f keeps the size
// and modification time in fi. File systems without user extended attributes
// are tolerated: their files are hashed on every read instead.
func writeDigest(f *os.File, fi fs.FileInfo, sum string) error {
	v := fmt.Sprintf("v1 %d %d %s", fi.Size(), fi.ModTime().UnixNano(), sum)
	err := unix.Fsetxattr(int(f.Fd()), digestAttr, []byte(v), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record digest: %w", err)
	}
	return nil
}

// readDigest returns f's recorded digest if there is one and it still matches
// f's size and modification time.
func readDigest(f *os.File, fi fs.FileInfo) (string, bool) {
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(int(f.Fd()), digestAttr, buf)
	if err != nil {
		return "", false
	}
	parts := strings.Fields(string(buf[:n]))
	if len(parts) != 4 || parts[0] != "v1" || len(parts[3]) != 64 {
		return "", false
	}
	size, err1 := strconv.ParseInt(parts[1], 10, 64)
	mtime, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || size != fi.Size() || mtime != fi.ModTime().UnixNano() {
		return "", false
	}
	return parts[3], true
}
