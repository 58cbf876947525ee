package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// LatestManifest returns the product's latest published manifest, if any.
func (a *Activities) LatestManifest(ctx context.Context, in refresh.LatestInput) (refresh.LatestResult, error) {
	_, m, _, found, err := catalog.ReadLatest(ctx, a.Store, in.Ref)
	return refresh.LatestResult{Found: found, Manifest: m}, err
}

// InputsPublished lists the product inputs of a product that have no published
// version yet.
func (a *Activities) InputsPublished(ctx context.Context, in refresh.InputsPublishedInput) (refresh.InputsPublishedResult, error) {
	res := refresh.InputsPublishedResult{Missing: []string{}, Versions: map[string]string{}}
	for _, input := range in.Product.Inputs {
		if input.Product == "" {
			continue
		}
		l, _, _, found, err := catalog.ReadLatest(ctx, a.Store, input.Product)
		if err != nil {
			return res, err
		}
		if !found {
			res.Missing = append(res.Missing, input.Product)
			continue
		}
		res.Versions[input.Product] = l.Version
	}
	return res, nil
}

// versionTaken is the error of a run that lost a race for a version.
func versionTaken(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), refresh.ErrVersionTaken, nil)
}

// Publish promotes a run's staged output to an immutable version and moves the
// product's latest pointer to it. The steps, each safe to repeat:
//
//  1. Read latest.json. If it already names this run, an earlier attempt finished:
//     done. If it moved past the version the run compared against, another run
//     won: stop with VersionTaken.
//  2. Claim the next version by creating its manifest with If-None-Match. If it
//     exists, it is this run's claim (continue), or a live claim of a racing run
//     (stop), or a claim older than StaleClaimAfter, left by a run that stopped
//     before committing (claim the version after it: folders are never shared,
//     and step 4 decides between runs however old their claims).
//  3. Copy the staged objects into the version's folder, verifying checksums.
//  4. Move latest.json with If-Match on the ETag read in step 1 (If-None-Match for
//     the first version): the single commit point. Losing here means another run
//     committed first; this run's claim is removed and it stops.
func (a *Activities) Publish(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
	m := in.Manifest
	ref := m.Product
	latest, _, latestObj, found, err := catalog.ReadLatest(ctx, a.Store, ref)
	if err != nil {
		return refresh.PublishResult{}, err
	}
	if found && latest.RunID == m.RunID {
		return refresh.PublishResult{Version: latest.Version, ManifestKey: latest.ManifestKey, Reused: true}, nil
	}
	prev := ""
	if found {
		prev = latest.Version
	}
	if prev != in.Previous {
		// An earlier attempt may have published this run's version and lost
		// its report before another run published on top of it.
		if res, ok, err := a.publishedEarlier(ctx, ref, in, m.RunID); err != nil || ok {
			return res, err
		}
		return refresh.PublishResult{}, versionTaken("%s version %s was published by another run while this one was in progress (this run was checked against %q); start a new refresh",
			ref, prev, in.Previous)
	}
	version, err := NextVersion(prev, in.Bump)
	if err != nil {
		return refresh.PublishResult{}, temporal.NewNonRetryableApplicationError(err.Error(), refresh.ErrBadSpec, nil)
	}
	staged := map[string]refresh.ObjectRef{"data.parquet": m.Data, "quality.json": m.Report}
	if m.Contract != nil {
		staged["contract.odcs.yaml"] = *m.Contract
	}
	if m.Quarantine != nil {
		staged["quarantine.parquet"] = *m.Quarantine
	}

	// 2. Claim the version.
	m, err = a.claim(ctx, m, in.Previous, version, in.Bump)
	if err != nil {
		return refresh.PublishResult{}, err
	}
	version = m.Version
	vp := catalog.VersionPrefix(ref, version)
	manifestKey := path.Join(vp, "manifest.json")

	// 3. Copy the staged objects.
	for name, src := range staged {
		activity.RecordHeartbeat(ctx, "copying "+name)
		if err := a.copyVerified(ctx, src, path.Join(vp, name)); err != nil {
			return refresh.PublishResult{}, err
		}
	}

	// 4. Commit.
	pointer, err := json.MarshalIndent(catalog.Latest{Version: version, ManifestKey: manifestKey, RunID: m.RunID, PublishedAt: m.PublishedAt}, "", "  ")
	if err != nil {
		return refresh.PublishResult{}, err
	}
	opts := storage.PutOptions{IfNoneMatch: !found, ContentType: "application/json"}
	if found {
		opts.IfMatch = latestObj.ETag
	}
	if _, err := a.Store.Put(ctx, catalog.LatestKey(ref), bytes.NewReader(pointer), opts); err != nil {
		if !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrNotFound) {
			return refresh.PublishResult{}, fmt.Errorf("move %s: %w", catalog.LatestKey(ref), err)
		}
		now, _, _, _, rerr := catalog.ReadLatest(ctx, a.Store, ref)
		if rerr == nil && now.RunID == m.RunID {
			return refresh.PublishResult{Version: version, ManifestKey: manifestKey, Reused: true}, nil
		}
		a.removeClaim(ctx, vp, staged)
		return refresh.PublishResult{}, versionTaken("another run moved %s to version %s first; start a new refresh", catalog.LatestKey(ref), now.Version)
	}
	a.logger().Info("published", "product", ref, "version", version, "run", m.RunID)
	return refresh.PublishResult{Version: version, ManifestKey: manifestKey}, nil
}

// DefaultStaleClaimAfter is how old another run's claim on the next version must
// be before Publish claims the version after it.
const DefaultStaleClaimAfter = time.Hour

// maxStaleClaims bounds how many stale claims one Publish steps over.
const maxStaleClaims = 10

// claim creates the manifest of version with If-None-Match, pointing the
// manifest's objects into the version's folder. A claim of this run's earlier
// attempt is taken as is; a claim of another run younger than StaleClaimAfter
// ends the run with VersionTaken; an older one is stepped over to the next
// version with the same bump. It returns the claimed manifest.
func (a *Activities) claim(ctx context.Context, m refresh.Manifest, previous, version string, bump refresh.Bump) (refresh.Manifest, error) {
	staleAfter := a.StaleClaimAfter
	if staleAfter <= 0 {
		staleAfter = DefaultStaleClaimAfter
	}
	base := m
	for skipped := 0; ; skipped++ {
		m = inFolder(base, catalog.VersionPrefix(m.Product, version))
		m.Version, m.Previous = version, previous
		m.PublishedAt = time.Now().UTC()
		manifestKey := path.Join(catalog.VersionPrefix(m.Product, version), "manifest.json")
		body, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return m, err
		}
		_, err = a.Store.Put(ctx, manifestKey, bytes.NewReader(body), storage.PutOptions{IfNoneMatch: true, ContentType: "application/json"})
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, storage.ErrPreconditionFailed) {
			return m, fmt.Errorf("claim %s: %w", manifestKey, err)
		}
		var existing refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, a.Store, manifestKey, &existing); err != nil {
			return m, err
		}
		if existing.RunID == m.RunID {
			return existing, nil // this run's own claim, from an earlier attempt
		}
		age := time.Since(existing.PublishedAt)
		if age < staleAfter || skipped >= maxStaleClaims {
			return m, versionTaken("%s version %s is being published by run %s (claimed %s ago); start a new refresh",
				m.Product, version, existing.RunID, age.Round(time.Second))
		}
		a.logger().Warn("stepping over a stale claim: its run stopped before committing it", "product", m.Product,
			"version", version, "run", existing.RunID, "claimedAt", existing.PublishedAt)
		if version, err = NextVersion(version, bump); err != nil {
			return m, temporal.NewNonRetryableApplicationError(err.Error(), refresh.ErrBadSpec, nil)
		}
	}
}

// inFolder returns the manifest with its objects' keys inside folder vp.
func inFolder(m refresh.Manifest, vp string) refresh.Manifest {
	m.Data.Key, m.Report.Key = path.Join(vp, "data.parquet"), path.Join(vp, "quality.json")
	if m.Contract != nil {
		c := *m.Contract
		c.Key = path.Join(vp, "contract.odcs.yaml")
		m.Contract = &c
	}
	if m.Quarantine != nil {
		q := *m.Quarantine
		q.Key = path.Join(vp, "quarantine.parquet")
		m.Quarantine = &q
	}
	return m
}

// publishedEarlier reports whether an earlier attempt of run runID committed
// the version it claims, now that latest.json names another run's version: its
// claim exists and another version's manifest names it as Previous (was
// published on top of it).
func (a *Activities) publishedEarlier(ctx context.Context, ref string, in refresh.PublishInput, runID string) (refresh.PublishResult, bool, error) {
	// The run's claim is on the version after the one it compared against, or
	// after the stale claims it stepped over.
	version, manifestKey := in.Previous, ""
	for skipped := 0; ; skipped++ {
		var err error
		if version, err = NextVersion(version, in.Bump); err != nil || skipped > maxStaleClaims {
			return refresh.PublishResult{}, false, nil
		}
		manifestKey = path.Join(catalog.VersionPrefix(ref, version), "manifest.json")
		var claim refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, a.Store, manifestKey, &claim); errors.Is(err, storage.ErrNotFound) {
			return refresh.PublishResult{}, false, nil
		} else if err != nil {
			return refresh.PublishResult{}, false, err
		}
		if claim.RunID == runID {
			break
		}
	}
	objs, err := a.Store.List(ctx, ref+"/v")
	if err != nil {
		return refresh.PublishResult{}, false, err
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, "/manifest.json") || o.Key == manifestKey {
			continue
		}
		var next refresh.Manifest
		if _, err := catalog.ReadJSON(ctx, a.Store, o.Key, &next); err != nil {
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
// when they were staged; a corrupt read is retried, never published.
func (a *Activities) copyVerified(ctx context.Context, src refresh.ObjectRef, dst string) error {
	if obj, err := a.Store.Head(ctx, dst); err == nil && obj.SHA256 == src.SHA256 && obj.Size == src.Size {
		return nil // copied by an earlier attempt
	}
	r, _, err := a.Store.Get(ctx, src.Key)
	if err != nil {
		return fmt.Errorf("read staged %s: %w", src.Key, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(a.Scratch, "publish-*")
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
	if _, err := a.Store.Put(ctx, dst, tmp, storage.PutOptions{}); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// removeClaim deletes the objects of a version this run claimed but lost.
func (a *Activities) removeClaim(ctx context.Context, vp string, staged map[string]refresh.ObjectRef) {
	for name := range staged {
		_ = a.Store.Delete(ctx, path.Join(vp, name))
	}
	_ = a.Store.Delete(ctx, path.Join(vp, "manifest.json"))
}

// CleanupStaging deletes a run's staging objects and scratch files.
func (a *Activities) CleanupStaging(ctx context.Context, in refresh.CleanupInput) error {
	a.runEnded(ctx, in)
	objs, err := a.Store.List(ctx, Staging(in.Ref, in.RunID)+"/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := a.Store.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return os.RemoveAll(a.scratchDir(in.RunID))
}

// NextVersion returns the semantic version after prev: 1.0.0 first, then the
// minor number goes up, or the major number for a breaking change.
func NextVersion(prev string, bump refresh.Bump) (string, error) {
	if prev == "" {
		return "1.0.0", nil
	}
	parts := strings.Split(prev, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("published version %q is not MAJOR.MINOR.PATCH", prev)
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return "", fmt.Errorf("published version %q is not MAJOR.MINOR.PATCH", prev)
	}
	if bump == refresh.BumpMajor {
		return fmt.Sprintf("%d.0.0", major+1), nil
	}
	return fmt.Sprintf("%d.%d.0", major, minor+1), nil
}
