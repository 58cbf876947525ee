package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshflow/meshflow/internal/interop/openlineage"
	"github.com/meshflow/meshflow/internal/metrics"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Activities holds what the refresh activities need.
type Activities struct {
	// Store holds staging and published products.
	Store storage.Store
	// Open opens the store an input URI lives in (file:// or s3://), returning the
	// store and the key or prefix inside it.
	Open func(ctx context.Context, uri string) (storage.Store, string, error)
	// Scratch is a local directory for the files of running stages.
	Scratch string
	// Threads and MemoryLimit bound each DuckDB instance ("" is DuckDB's default).
	Threads     int
	MemoryLimit string
	Logger      *slog.Logger
	// PostgresHosts are the PostgreSQL servers ("host" or "host:port") inputs
	// may read from (MESHFLOW_POSTGRES_HOSTS); none when empty.
	PostgresHosts []string
	// Metrics, when set, records stage durations, rows, rule outcomes and run
	// outcomes; nil records nothing.
	Metrics *metrics.Metrics
	// StaleClaimAfter is how old another run's unfinished claim on the next
	// version must be before Publish steps over it (0: layout.DefaultStaleClaimAfter).
	// A claim gets that old when its run was terminated or lost in the middle of
	// Publish; younger claims belong to racing runs, which end with VersionTaken.
	StaleClaimAfter time.Duration
	// ScratchPerRun bounds the local scratch one run's stages use on this worker,
	// in bytes (0: no bound). The worker sets it to --scratch-limit divided by
	// --max-sessions. Snapshots, DuckDB's spill files and the staged Parquet
	// count; a run that outgrows it ends with ErrScratch instead of filling the
	// disk under the other runs.
	ScratchPerRun int64
	// Lineage, when set, leaves an OpenLineage event of every run's start and
	// end in the store's lineage outbox, named after this mesh, for the
	// openlineage.Sender to send; nil writes no events.
	Lineage *openlineage.Naming
	// Notify, when set, leaves the notifications of every run (approval
	// requests, escalations, decisions, publications, failures, expiries,
	// breaking changes, access requests and grants) in the store's outbox,
	// for the notify.Sender to route and deliver.
	Notify bool
	// RunStatus, when set, reads a run's status (the worker passes its control
	// client's Status); the FAIL event's errorMessage is then the run's own
	// error. It is a function so that activities link no Temporal client.
	RunStatus func(ctx context.Context, workflowID, runID string) (refresh.Status, error)
	// Runs, when set, lists, reads and signals refresh runs in Temporal, for
	// SupersedeOlder and VerifySupersede (the worker passes its control
	// client). Without it a run supersedes nobody and believes no claim.
	Runs Runs

	revisions revisionCache
	queues    struct {
		sync.Mutex
		served map[string]bool // the task queues this process polls (Serve)
	}
	// scheduler, when set, stands in for activity.GetInfo (scheduledBy):
	// tests set it to run activities as several runs in one environment.
	scheduler func(context.Context) activity.Info
}

func (a *Activities) scratchDir(runID string, parts ...string) string {
	return filepath.Join(append([]string{a.Scratch, runID}, parts...)...)
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// badInput is the non-retryable error for problems with a product's inputs.
func badInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), refresh.ErrBadInput, nil)
}

// heartbeat records progress every few seconds until stop is called, so that long
// DuckDB statements keep the activity alive and its progress visible.
func heartbeat(ctx context.Context, progress func() any) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress())
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// upload stores a local file under key and returns its reference.
func (a *Activities) upload(ctx context.Context, file, key string) (refresh.ObjectRef, error) {
	f, err := os.Open(file)
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("upload %s: %w", key, err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("upload %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("upload %s: %w", key, err)
	}
	if _, err := a.Store.Put(ctx, key, f, storage.PutOptions{}); err != nil {
		return refresh.ObjectRef{}, fmt.Errorf("upload %s: %w", key, err)
	}
	return refresh.ObjectRef{Key: key, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// download fetches an object into a local file, unless the file is already there
// with the right checksum, and verifies the checksum either way.
func (a *Activities) download(ctx context.Context, ref refresh.ObjectRef, file string) error {
	if sum, err := fileSHA256(file); err == nil && sum == ref.SHA256 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	r, _, err := a.Store.Get(ctx, ref.Key)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref.Key, err)
	}
	defer r.Close()
	sum, _, err := writeFile(file, r)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref.Key, err)
	}
	if ref.SHA256 != "" && sum != ref.SHA256 {
		return fmt.Errorf("download %s: checksum %s, want %s: %w", ref.Key, sum, ref.SHA256, storage.ErrChecksumMismatch)
	}
	return nil
}

// writeFile copies r into file (atomically, through a temporary file) and returns
// the content's SHA-256 and size.
func writeFile(file string, r io.Reader) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".part-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func fileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
