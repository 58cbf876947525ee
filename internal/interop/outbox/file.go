package outbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
)

// File appends events to a file as JSON lines, one event a line.
type File struct {
	Path string
	mu   sync.Mutex
}

// Send appends one event and syncs the file.
func (f *File) Send(_ context.Context, event []byte) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Path, err)
	}
	defer func() {
		if cerr := fh.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", f.Path, cerr)
		}
	}()
	line := append(bytes.TrimSpace(event), '\n')
	if _, err := fh.Write(line); err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if err := fh.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Path, err)
	}
	return nil
}
