// Package publish is the one writer of published product versions: it promotes a
// run's staged, checked output to an immutable version and moves the product's
// latest pointer to it, by the claim and commit protocol that lets any number of
// runs, attempts and workers race safely. Package layout names the keys; package
// activities adapts Publish to a Temporal activity.
package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// VersionTakenError says that another run published, or is publishing, the
// version this run would take. The run cannot succeed by retrying; a new
// refresh compares against the new latest version.
type VersionTakenError struct{ Reason string }

func (e *VersionTakenError) Error() string { return e.Reason }

func versionTaken(format string, args ...any) error {
	return &VersionTakenError{Reason: fmt.Sprintf(format, args...)}
}

// BadVersionError says that the product's published version cannot be counted
// on from (it is not MAJOR.MINOR.PATCH).
type BadVersionError struct{ Err error }

func (e *BadVersionError) Error() string { return e.Err.Error() }
func (e *BadVersionError) Unwrap() error { return e.Err }

// Publisher publishes versions to one store.
type Publisher struct {
	Store storage.Store
	// Scratch is the local folder in which staged objects are verified before
	// they are copied.
	Scratch string
	// StaleClaimAfter is how old another run's claim must be before Publish steps
	// over it (0: layout.DefaultStaleClaimAfter).
	StaleClaimAfter time.Duration
	// Progress, when set, hears what Publish is doing (a Temporal activity
	// heartbeats with it).
	Progress func(detail string)
	Logger   *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Publisher) progress(detail string) {
	if p.Progress != nil {
		p.Progress(detail)
	}
}

// Publish promotes a run's staged output to an immutable version and moves the
// product's latest pointer to it. The steps, each safe to repeat:
//
//  1. Read the latest pointer. If it already names this run, an earlier attempt
//     finished: done. If it moved past the version the run compared against,
//     another run won: stop with a VersionTakenError.
//  2. Claim the next version by creating its manifest with If-None-Match. If it
//     exists, it is this run's claim (continue), or a live claim of a racing run
//     (stop), or a stale claim, left by a run that stopped before committing
//     (claim the version after it: folders are never shared, and step 4 decides
//     between runs however old their claims).
//  3. Copy the staged objects into the version's folder, verifying checksums.
//  4. Move the latest pointer with If-Match on the ETag read in step 1
//     (If-None-Match for the first version): the single commit point. Losing here
//     means another run committed first; this run's claim is removed and it stops.
func (p *Publisher) Publish(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
	m := in.Manifest
	ref := m.Product
	head, found, err := catalog.ReadLatest(ctx, p.Store, ref)
	if err != nil {
		return refresh.PublishResult{}, err
	}
	if found && head.Pointer.RunID == m.RunID {
		if err := p.pointMajors(ctx, ref, head.Pointer, head.Manifest.Previous); err != nil {
			return refresh.PublishResult{}, err
		}
		return refresh.PublishResult{Version: head.Pointer.Version, ManifestKey: head.Pointer.ManifestKey, Reused: true}, nil
	}
	prev := ""
	if found {
		prev = head.Pointer.Version
	}
	if prev != in.Previous {
		// An earlier attempt may have published this run's version and lost
		// its report before another run published on top of it.
		if res, ok, err := p.publishedEarlier(ctx, ref, in, m.RunID); err != nil || ok {
			return res, err
		}
		return refresh.PublishResult{}, versionTaken("%s version %s was published by another run while this one was in progress (this run was checked against %q); start a new refresh",
			ref, prev, in.Previous)
	}
	version, err := layout.NextVersion(prev, in.Bump)
	if err != nil {
		return refresh.PublishResult{}, &BadVersionError{Err: err}
	}
	staged := layout.Objects(m)

	// 2. Claim the version.
	m, err = p.claim(ctx, m, in.Previous, version, in.Bump)
	if err != nil {
		return refresh.PublishResult{}, err
	}
	version = m.Version
	vp := layout.VersionPrefix(ref, version)
	manifestKey := layout.ManifestKey(ref, version)

	// 3. Copy the staged objects.
	for name, src := range staged {
		p.progress("copying " + name)
		if err := p.copyVerified(ctx, src, path.Join(vp, name)); err != nil {
			return refresh.PublishResult{}, err
		}
	}

	// 4. Commit.
	pointer, err := json.MarshalIndent(layout.Latest{Version: version, ManifestKey: manifestKey, RunID: m.RunID, PublishedAt: m.PublishedAt}, "", "  ")
	if err != nil {
		return refresh.PublishResult{}, err
	}
	opts := storage.PutOptions{IfNoneMatch: !found, ContentType: "application/json"}
	if found {
		opts.IfMatch = head.Object.ETag
	}
	latestKey := layout.LatestKey(ref)
	if _, err := p.Store.Put(ctx, latestKey, bytes.NewReader(pointer), opts); err != nil {
		if !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrNotFound) {
			return refresh.PublishResult{}, fmt.Errorf("move %s: %w", latestKey, err)
		}
		now, _, rerr := catalog.ReadLatest(ctx, p.Store, ref)
		if rerr == nil && now.Pointer.RunID == m.RunID {
			if err := p.pointMajors(ctx, ref, now.Pointer, now.Manifest.Previous); err != nil {
				return refresh.PublishResult{}, err
			}
			return refresh.PublishResult{Version: version, ManifestKey: manifestKey, Reused: true}, nil
		}
		p.removeClaim(ctx, vp, staged)
		return refresh.PublishResult{}, versionTaken("another run moved %s to version %s first; start a new refresh", latestKey, now.Pointer.Version)
	}
	p.logger().Info("published", "product", ref, "version", version, "run", m.RunID)
	if err := p.pointMajors(ctx, ref, layout.Latest{Version: version, ManifestKey: manifestKey, RunID: m.RunID, PublishedAt: m.PublishedAt}, in.Previous); err != nil {
		return refresh.PublishResult{}, err
	}
	return refresh.PublishResult{Version: version, ManifestKey: manifestKey}, nil
}

// pointMajors writes the major pointers (layout.MajorKey) of a version that
// latest now names: its own major's, and, when it starts a new major, the
// previous major's, which names previous from now on. Pointers only move
// forward, so a slow attempt never moves one back.
func (p *Publisher) pointMajors(ctx context.Context, ref string, cur layout.Latest, previous string) error {
	if err := p.pointMajor(ctx, ref, cur); err != nil {
		return err
	}
	if previous == "" || layout.Major(previous) == layout.Major(cur.Version) {
		return nil
	}
	prev, err := catalog.ReadManifest(ctx, p.Store, ref, previous)
	if err != nil {
		return err
	}
	return p.pointMajor(ctx, ref, layout.Latest{Version: previous, ManifestKey: layout.ManifestKey(ref, previous), RunID: prev.RunID, PublishedAt: prev.PublishedAt})
}

// pointMajor moves the pointer of v's major to v unless it names v or a
// newer version already.
func (p *Publisher) pointMajor(ctx context.Context, ref string, v layout.Latest) error {
	key := layout.MajorKey(ref, layout.Major(v.Version))
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	for range 5 {
		var cur layout.Latest
		obj, err := catalog.ReadJSON(ctx, p.Store, key, &cur)
		opts := storage.PutOptions{ContentType: "application/json"}
		switch {
		case errors.Is(err, storage.ErrNotFound):
			opts.IfNoneMatch = true
		case err != nil:
			return fmt.Errorf("read %s: %w", key, err)
		case layout.CompareVersions(cur.Version, v.Version) >= 0:
			return nil
		default:
			opts.IfMatch = obj.ETag
		}
		_, err = p.Store.Put(ctx, key, bytes.NewReader(body), opts)
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("move %s: %w", key, err)
		}
	}
	return fmt.Errorf("move %s: other publications kept moving it", key)
}

// claim creates the manifest of version with If-None-Match, pointing the
// manifest's objects into the version's folder. A claim of this run's earlier
// attempt is taken as is; a claim of another run that is not stale ends the run
// with a VersionTakenError; a stale one is stepped over to the next version with
// the same bump. It returns the claimed manifest.
func (p *Publisher) claim(ctx context.Context, m refresh.Manifest, previous, version string, bump refresh.Bump) (refresh.Manifest, error) {
	base := m
	for skipped := 0; ; skipped++ {
		m = layout.InVersion(base, version)
		m.Previous = previous
		m.PublishedAt = p.now()
		manifestKey := layout.ManifestKey(m.Product, version)
		body, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return m, err
		}
		_, err = p.Store.Put(ctx, manifestKey, bytes.NewReader(body), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, storage.ErrPreconditionFailed) {
			return m, fmt.Errorf("claim %s: %w", manifestKey, err)
		}
		var existing refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, p.Store, manifestKey, &existing); err != nil {
			return m, err
		}
		if existing.RunID == m.RunID {
			return existing, nil // this run's own claim, from an earlier attempt
		}
		now := p.now()
		if !layout.ClaimIsStale(existing.PublishedAt, now, p.StaleClaimAfter) || skipped >= layout.MaxStaleClaims {
			return m, versionTaken("%s version %s is being published by run %s (claimed %s ago); start a new refresh",
				m.Product, version, existing.RunID, now.Sub(existing.PublishedAt).Round(time.Second))
		}
		p.logger().Warn("stepping over a stale claim: its run stopped before committing it", "product", m.Product,
			"version", version, "run", existing.RunID, "claimedAt", existing.PublishedAt)
		if version, err = layout.NextVersion(version, bump); err != nil {
			return m, &BadVersionError{Err: err}
		}
	}
}

// publishedEarlier reports whether an earlier attempt of run runID committed
// the version it claims, now that the latest pointer names another run's
// version: its claim exists and another version's manifest names it as Previous
// (was published on top of it).
func (p *Publisher) publishedEarlier(ctx context.Context, ref string, in refresh.PublishInput, runID string) (refresh.PublishResult, bool, error) {
	// The run's claim is on the version after the one it compared against, or
	// after the stale claims it stepped over.
	version, manifestKey := in.Previous, ""
	for skipped := 0; ; skipped++ {
		var err error
		if version, err = layout.NextVersion(version, in.Bump); err != nil || skipped > layout.MaxStaleClaims {
			return refresh.PublishResult{}, false, nil
		}
		manifestKey = layout.ManifestKey(ref, version)
		var claim refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, p.Store, manifestKey, &claim); errors.Is(err, storage.ErrNotFound) {
			return refresh.PublishResult{}, false, nil
		} else if err != nil {
			return refresh.PublishResult{}, false, err
		}
		if claim.RunID == runID {
			break
		}
	}
	objs, err := p.Store.List(ctx, layout.VersionsPrefix(ref))
	if err != nil {
		return refresh.PublishResult{}, false, err
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, "/"+layout.Manifest) || o.Key == manifestKey {
			continue
		}
		var next refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, p.Store, o.Key, &next); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue // a lost claim, removed meanwhile
			}
			return refresh.PublishResult{}, false, err
		}
		if next.Previous == version {
			return refresh.PublishResult{Version: version, ManifestKey: manifestKey, Reused: true}, true, nil
		}
	}
	return refresh.PublishResult{}, false, nil
}

// copyVerified copies an object, checking the bytes against the checksum recorded
// when they were staged; a corrupt read is retried, never published. A store
// that copies inside the server (storage.Copier) does, and checks the copy's
// checksum; any other store's bytes are read and written again.
func (p *Publisher) copyVerified(ctx context.Context, src refresh.ObjectRef, dst string) error {
	if obj, err := p.Store.Head(ctx, dst); err == nil && obj.SHA256 == src.SHA256 && obj.Size == src.Size {
		return nil // copied by an earlier attempt
	}
	if c, ok := p.Store.(storage.Copier); ok {
		// The server copies and checksums the bytes itself: they do not
		// travel to the worker and back.
		_, err := c.Copy(ctx, src.Key, dst, storage.Object{Size: src.Size, SHA256: src.SHA256})
		if !errors.Is(err, storage.ErrCopyUnsupported) {
			return err
		}
	}
	r, _, err := p.Store.Get(ctx, src.Key)
	if err != nil {
		return fmt.Errorf("read staged %s: %w", src.Key, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(p.Scratch, "publish-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return fmt.Errorf("read staged %s: %w", src.Key, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != src.SHA256 {
		return fmt.Errorf("staged %s has checksum %s, want %s: %w", src.Key, sum, src.SHA256, storage.ErrChecksumMismatch)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := p.Store.Put(ctx, dst, tmp, storage.PutOptions{}); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// removeClaim deletes the objects of a version this run claimed but lost.
func (p *Publisher) removeClaim(ctx context.Context, vp string, staged map[string]refresh.ObjectRef) {
	for name := range staged {
		_ = p.Store.Delete(ctx, path.Join(vp, name))
	}
	_ = p.Store.Delete(ctx, path.Join(vp, layout.Manifest))
}

// RecordCheck writes the product's check record (layout.Check): a run found
// its output identical to c.Version, the latest version, and published
// nothing. The record only moves forward: a check older than the recorded one
// (a slow retry) leaves it, and so does a check of a version that is no longer
// latest, since a newer version is fresher than any check of an older one.
func (p *Publisher) RecordCheck(ctx context.Context, ref string, c layout.Check) error {
	head, found, err := catalog.ReadLatest(ctx, p.Store, ref)
	if err != nil {
		return err
	}
	if !found || head.Pointer.Version != c.Version {
		p.logger().Info("check of a version that is no longer latest not recorded", "product", ref, "checked", c.Version)
		return nil
	}
	prev, found, err := catalog.ReadCheck(ctx, p.Store, ref)
	if err != nil {
		return err
	}
	if found && prev.Version == c.Version && !prev.CheckedAt.Before(c.CheckedAt) {
		return nil
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	key := layout.CheckedKey(ref)
	if _, err := p.Store.Put(ctx, key, bytes.NewReader(b), storage.PutOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
