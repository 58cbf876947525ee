//go:build !linux

package storage

import (
	"io/fs"
	"os"
)

// writeDigest does nothing here: digests are cached in Linux extended
// attributes only, and files are hashed on every read elsewhere.
func writeDigest(*os.File, fs.FileInfo, string) error { return nil }

// readDigest never finds a cached digest outside Linux.
func readDigest(*os.File, fs.FileInfo) (string, bool) { return "", false }
