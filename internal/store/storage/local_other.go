//go:build !unix

package storage

import (
	"errors"
	"os"
)

// flock is not available: the local store needs a Unix system to serialize
// writers across processes.
func flock(*os.File) error {
	return errors.New("the local store needs flock(2), which this system lacks")
}
