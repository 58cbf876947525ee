//go:build unix

package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// flock blocks until it holds an exclusive flock(2) on f. The lock belongs to
// f's open file description, so it excludes other processes and other
// descriptors of this process alike, and is released when f is closed.
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}
