package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// source is one object of an input.
type source struct {
	name string // for messages: a path or URI
	open func(ctx context.Context) (io.ReadCloser, error)
}

// Ingest snapshots every input of a product into the run's staging area (and the
// worker's scratch, where Transform reads them): files and objects of file:// and
// s3:// URIs (one object or every object under a prefix), PostgreSQL tables and
// queries (a Parquet snapshot of one REPEATABLE READ transaction), and the latest published
// version of input products. Each snapshot is checksummed, so a run is reproducible
// and a corrupt copy is caught.
func (a *Activities) Ingest(ctx context.Context, in refresh.IngestInput) (refresh.IngestResult, error) {
	var res refresh.IngestResult
	resolved, err := a.authorize(ctx, in.Product, in.RunID)
	if err != nil {
		return res, err
	}
	in.Product = resolved.Product
	p := in.Product
	if err := a.lineageStart(ctx, in); err != nil {
		return res, err
	}
	for i, input := range p.Inputs {
		activity.RecordHeartbeat(ctx, fmt.Sprintf("input %d of %d: %s", i+1, len(p.Inputs), input.Name))
		staged, n, err := a.snapshotInput(ctx, p, in.RunID, input)
		if err != nil {
			return res, err
		}
		res.Inputs = append(res.Inputs, staged)
		res.Bytes += n
	}
	return res, nil
}

// checkGrant fails when input is another domain's restricted product that p's
// owner team holds no grant for.
func (a *Activities) checkGrant(ctx context.Context, p refresh.Product, input refresh.Input) error {
	if !input.NeedsGrant(p.Domain) {
		return nil
	}
	if _, ok, err := grants.Check(ctx, a.Store, p.Owner, input.Product, time.Now()); err != nil {
		return fmt.Errorf("input %s: check the grant of %s: %w", input.Name, p.Owner, err)
	} else if !ok {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("input %s: %s holds no grant to read %s (restricted); request access with meshflow access request %s",
			input.Name, p.Owner, input.Product, input.Product), refresh.ErrUnauthorized, nil)
	}
	return nil
}

// snapshotInput snapshots one input of p into the run's staging and scratch; it
// returns the staged input and the bytes copied.
func (a *Activities) snapshotInput(ctx context.Context, p refresh.Product, runID string, input refresh.Input) (refresh.StagedInput, int64, error) {
	staged := refresh.StagedInput{Name: input.Name, Format: input.Format}
	var bytes int64
	var sources []source
	var err error
	if err := a.checkGrant(ctx, p, input); err != nil {
		return staged, 0, err
	}
	if input.Product != "" {
		staged.Source = refresh.ProductSourcePrefix + input.Product
		staged.Format = refresh.FormatParquet
		sources, staged.SourceVersion, staged.Deprecated, err = a.productSource(ctx, p, input)
	} else if spec.IsPostgres(input.URI) {
		staged.Source, staged.Format = postgresSourceName(input), refresh.FormatParquet
		obj, err := a.snapshotPostgres(ctx, p.Ref(), runID, input)
		if err != nil {
			return staged, 0, err
		}
		staged.Objects = append(staged.Objects, obj)
		return staged, obj.Size, nil
	} else {
		staged.Source = input.URI
		if a.inStore(input.URI) {
			return staged, 0, errInStore(input, input.URI)
		}
		sources, err = a.uriSources(ctx, input)
	}
	if err != nil {
		return staged, 0, err
	}
	for n, src := range sources {
		// The snapshot keeps the source's compression suffix, by which the
		// engine knows to decompress it.
		ext := string(staged.Format) + strings.ToLower(refresh.CompressionOfName(src.name))
		key := layout.StagedInputKey(p.Ref(), runID, input.Name, n, ext)
		file := a.scratchDir(runID, "inputs", input.Name, fmt.Sprintf("%04d.%s", n, ext))
		obj, size, err := a.copySource(ctx, p.Ref(), runID, input.Name, src, file)
		if err != nil {
			return staged, 0, err
		}
		if obj, err = a.stageCopy(ctx, file, key, obj, input.Name, src.name); err != nil {
			return staged, 0, err
		}
		staged.Objects = append(staged.Objects, obj)
		bytes += size
	}
	return staged, bytes, nil
}

// copySource copies one source object into a local file within the run's
// scratch budget; it returns the file's checksum (in an ObjectRef without key)
// and size.
func (a *Activities) copySource(ctx context.Context, ref, runID, input string, src source, file string) (refresh.ObjectRef, int64, error) {
	r, err := src.open(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return refresh.ObjectRef{}, 0, badInput("input %s: %s disappeared while it was read", input, src.name)
		}
		if app, ok := errors.AsType[*temporal.ApplicationError](err); ok {
			return refresh.ObjectRef{}, 0, app // a refusal (checkLocalFile) keeps its type
		}
		return refresh.ObjectRef{}, 0, fmt.Errorf("input %s: open %s: %w", input, src.name, err)
	}
	var body io.Reader = r
	if left, limited := a.scratchLeft(runID); limited {
		body = &capReader{r: r, left: left}
	}
	sum, size, err := writeFile(file, body)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, errScratchFull) {
		return refresh.ObjectRef{}, 0, a.scratchExceeded(ref, fmt.Sprintf("the snapshot of input %s (%s)", input, src.name))
	}
	if err != nil {
		return refresh.ObjectRef{}, 0, fmt.Errorf("input %s: copy %s: %w", input, src.name, err)
	}
	return refresh.ObjectRef{Size: size, SHA256: sum}, size, nil
}

// stageCopy uploads a source's local copy to key and checks that the upload is
// what was read.
func (a *Activities) stageCopy(ctx context.Context, file, key string, read refresh.ObjectRef, input, name string) (refresh.ObjectRef, error) {
	obj, err := a.upload(ctx, file, key)
	if err != nil {
		return obj, err
	}
	if obj.SHA256 != read.SHA256 {
		return obj, fmt.Errorf("input %s: staged copy of %s changed on disk", input, name)
	}
	return obj, nil
}

// productSource returns the data of the version an input product reads:
// the latest, or the newest of the major the input pins (readInputVersion).
func (a *Activities) productSource(ctx context.Context, p refresh.Product, input refresh.Input) ([]source, string, *refresh.Deprecation, error) {
	head, dep, err := a.readInputVersion(ctx, p, input)
	if err != nil {
		return nil, "", nil, err
	}
	objs, err := catalog.DataObjects(ctx, a.Store, head.Manifest)
	if err != nil {
		return nil, "", nil, unverified(input, err)
	}
	out := make([]source, len(objs))
	for i, o := range objs {
		out[i] = a.storeSource(o.Key)
	}
	return out, head.Manifest.Version, dep, nil
}

// readInputVersion returns the version of an input product that a run of p
// reads: the latest, or for an input that pins a major the newest version of
// that major, and that major's deprecation when it is deprecated on a date
// to come (the run warns, and leaves a deprecation-approaching
// notification). A pinned major that has no published version, or whose
// deprecation date has come, ends the run, naming the date and the note.
func (a *Activities) readInputVersion(ctx context.Context, p refresh.Product, input refresh.Input) (catalog.Head, *refresh.Deprecation, error) {
	head, dep, err := a.readInputHead(ctx, p, input)
	return head, dep, unverified(input, err)
}

// unverified turns a pointer or manifest of an input product that does not
// verify (catalog.ErrUnverified: forged, or naming another product's
// objects) into a refusal that no retry changes; other errors pass.
func unverified(input refresh.Input, err error) error {
	if err == nil || !errors.Is(err, catalog.ErrUnverified) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("input %s: the published version of %s does not verify, so it is not read: %v; run meshflow catalog audit %s",
		input.Name, input.Product, err, input.Product), refresh.ErrUnauthorized, nil)
}

// readInputHead is readInputVersion without the mapping of unverified
// pointers.
func (a *Activities) readInputHead(ctx context.Context, p refresh.Product, input refresh.Input) (catalog.Head, *refresh.Deprecation, error) {
	ref := input.Product
	if input.Major == 0 {
		head, found, err := catalog.ReadLatest(ctx, a.Store, ref)
		if err != nil {
			return head, nil, fmt.Errorf("read latest version of %s: %w", ref, err)
		}
		if !found {
			return head, nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("input product %s has no published version yet; refresh it first", ref), refresh.ErrNotPublished, nil)
		}
		return head, nil, nil
	}
	pin := fmt.Sprintf("%s@%d", ref, input.Major)
	head, found, err := catalog.ReadMajor(ctx, a.Store, ref, input.Major)
	if err != nil {
		return head, nil, fmt.Errorf("read the newest %d.x of %s: %w", input.Major, ref, err)
	}
	if !found {
		latest, any, err := catalog.ReadLatest(ctx, a.Store, ref)
		if err != nil {
			return head, nil, fmt.Errorf("read latest version of %s: %w", ref, err)
		}
		msg := fmt.Sprintf("input %s pins %s, but %s has no published version yet; refresh it first", input.Name, pin, ref)
		if any {
			msg = fmt.Sprintf("input %s pins %s, but %s has no published %d.x (its latest version is %s); pin a major version it published, or remove the pin to follow the latest",
				input.Name, pin, ref, input.Major, latest.Pointer.Version)
		}
		return head, nil, temporal.NewNonRetryableApplicationError(msg, refresh.ErrNotPublished, nil)
	}
	dep, err := catalog.ReadDeprecation(ctx, a.Store, ref, input.Major)
	if err != nil {
		return head, nil, fmt.Errorf("read the deprecation of %s: %w", pin, err)
	}
	if dep == nil {
		return head, nil, nil
	}
	if dep.Past(time.Now()) {
		msg := fmt.Sprintf("input %s pins %s, which was deprecated on %s", input.Name, pin, dep.On)
		if dep.Note != "" {
			msg += ": " + dep.Note
		}
		msg += fmt.Sprintf("; move the input to a newer major version of %s (or remove the pin) and apply the mesh", ref)
		return head, nil, temporal.NewNonRetryableApplicationError(msg, refresh.ErrDeprecated, nil)
	}
	a.notifyDeprecation(ctx, p, input, *dep)
	return head, dep, nil
}

// storeSource is an object of the mesh's own store.
func (a *Activities) storeSource(key string) source {
	return source{name: a.Store.URI(key), open: func(ctx context.Context) (io.ReadCloser, error) {
		r, _, err := a.Store.Get(ctx, key)
		return r, err
	}}
}

// uriSources lists the objects of a file:// or s3:// input: the object itself, or
// every object under it taken as a prefix, in key order.
func (a *Activities) uriSources(ctx context.Context, input refresh.Input) ([]source, error) {
	if dir, ok := strings.CutPrefix(input.URI, "file://"); ok {
		return a.fileSources(input, filepath.FromSlash(dir))
	}
	if a.Open == nil {
		return nil, badInput("input %s: %s: this worker has no object store configured for s3:// inputs", input.Name, input.URI)
	}
	st, key, err := a.Open(ctx, input.URI)
	if err != nil {
		return nil, badInput("input %s: %v", input.Name, err)
	}
	get := func(k string) source {
		return source{name: st.URI(k), open: func(ctx context.Context) (io.ReadCloser, error) {
			r, _, err := st.Get(ctx, k)
			return r, err
		}}
	}
	if key != "" {
		if _, err := st.Head(ctx, key); err == nil {
			return []source{get(key)}, nil
		} else if !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("input %s: %w", input.Name, err)
		}
	}
	prefix := key
	if prefix != "" {
		prefix += "/"
	}
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("input %s: list %s: %w", input.Name, input.URI, err)
	}
	var out []source
	for _, o := range objs {
		if matchesFormat(o.Key, input.Format) {
			if a.inStore(st.URI(o.Key)) {
				return nil, errInStore(input, st.URI(o.Key))
			}
			out = append(out, get(o.Key))
		}
	}
	if len(out) == 0 {
		return nil, badInput("input %s: %s does not exist (no object with that key, and no %s objects under it)", input.Name, input.URI, input.Format)
	}
	return out, nil
}

// fileSources lists the local files of a file:// input: the file p, or every
// file of the input's format in the folder p and below it, in name order.
// Every file must resolve, through symbolic links, inside the input's root
// (the mesh folder) and outside the mesh's store (checkLocalFile); it is
// checked again when it is opened.
func (a *Activities) fileSources(input refresh.Input, p string) ([]source, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badInput("input %s: %s does not exist", input.Name, p)
	}
	if err != nil {
		return nil, badInput("input %s: %v", input.Name, err)
	}
	if !fi.IsDir() {
		if _, err := a.checkLocalFile(input, p); err != nil {
			return nil, err
		}
		return []source{a.localSource(input, p)}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && matchesFormat(f, input.Format) && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, badInput("input %s: %v", input.Name, err)
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, badInput("input %s: folder %s holds no %s files", input.Name, p, input.Format)
	}
	out := make([]source, len(files))
	for i, f := range files {
		if _, err := a.checkLocalFile(input, f); err != nil {
			return nil, err
		}
		out[i] = a.localSource(input, f)
	}
	return out, nil
}

// matchesFormat reports whether a file name has an extension of the format.
func matchesFormat(name string, format refresh.Format) bool {
	return refresh.FormatOfName(name) == format
}
