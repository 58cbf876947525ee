package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/engine"
	"github.com/meshflow/meshflow/internal/refresh"
	"go.temporal.io/sdk/temporal"
)

// scratchUsed returns the bytes of the files in a run's scratch folder.
func (a *Activities) scratchUsed(runID string) int64 {
	var n int64
	_ = filepath.WalkDir(a.scratchDir(runID), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// scratchLeft returns how many more bytes a run may write to its scratch
// folder; limited is false when the worker sets no bound.
func (a *Activities) scratchLeft(runID string) (left int64, limited bool) {
	if a.ScratchPerRun <= 0 {
		return 0, false
	}
	return max(0, a.ScratchPerRun-a.scratchUsed(runID)), true
}

// scratchExceeded is the non-retryable error of a run that outgrew its share of
// the worker's scratch: another attempt on a worker of the same size would too.
func (a *Activities) scratchExceeded(ref, what string) error {
	domain, _, _ := strings.Cut(ref, "/")
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s: %s needs more than the %s of local scratch this worker gives one run (--scratch-limit divided by --max-sessions and the task queues); "+
			"raise --scratch-limit or lower --max-sessions on the workers of domain %s", ref, what, sizeText(a.ScratchPerRun), domain),
		refresh.ErrScratch, nil)
}

// sizeText writes a byte count in KiB, MiB or GiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// checkScratch fails when a run's scratch folder holds more than its share.
func (a *Activities) checkScratch(ref, runID, what string) error {
	if a.ScratchPerRun > 0 && a.scratchUsed(runID) > a.ScratchPerRun {
		return a.scratchExceeded(ref, what)
	}
	return nil
}

// errScratchFull is returned by a capReader past its cap.
var errScratchFull = errors.New("scratch budget reached")

// capReader fails with errScratchFull once more than left bytes were read, so a
// copy to scratch stops before it outgrows the run's budget.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errScratchFull
	}
	return n, err
}

// openEngine opens DuckDB in a folder of the run's scratch; its spill files may
// use what is left of the run's budget. Its SQL reads and writes files only in the
// run's scratch (the staged inputs, the candidate, the output).
func (a *Activities) openEngine(ctx context.Context, runID, folder string) (*engine.DB, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	left, limited := a.scratchLeft(runID)
	if limited && left == 0 {
		left = 1 // DuckDB may not spill at all
	}
	return engine.Open(ctx, a.scratchDir(runID, folder), a.Threads, a.MemoryLimit, left, a.scratchDir(runID))
}

// scratchErr turns DuckDB refusing to spill past the run's budget into
// ErrScratch; other errors pass through.
func (a *Activities) scratchErr(ref, what string, err error) error {
	if a.ScratchPerRun > 0 && engine.IsTempLimit(err) {
		return a.scratchExceeded(ref, what+" (DuckDB's spill files)")
	}
	return err
}
