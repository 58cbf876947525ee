package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
)

// location is a place an input reads, in the canonical form in which the
// readers interpret it: a local path with every symbolic link resolved, or an
// S3 bucket and key as storage.ParseURI decodes them (percent escapes
// decoded, the scheme's case folded, slashes trimmed). Checks compare
// locations, never the URIs as written, so that no spelling of a URI reads
// somewhere else than the check looked.
type location struct {
	scheme string // "file" or "s3"
	bucket string // the S3 bucket; empty for a local path
	path   string // the resolved local path, or the S3 key or prefix
}

// parseLocation returns the canonical location of uri. A "file://" URI is
// read as the readers read it: the rest of the URI is the path, without
// percent decoding. Any other URI is parsed as storage.ParseURI parses the
// URIs of S3 inputs.
func parseLocation(uri string) (location, error) {
	if rest, ok := strings.CutPrefix(uri, "file://"); ok {
		p := filepath.Clean(filepath.FromSlash(rest))
		if !filepath.IsAbs(p) {
			return location{}, fmt.Errorf("%s is not an absolute file:// URI", uri)
		}
		return location{scheme: "file", path: resolvePath(p)}, nil
	}
	scheme, bucketOrDir, prefix, err := storage.ParseURI(uri)
	if err != nil {
		return location{}, err
	}
	if scheme == "file" {
		return location{scheme: "file", path: resolvePath(bucketOrDir)}, nil
	}
	return location{scheme: scheme, bucket: bucketOrDir, path: prefix}, nil
}

// resolvePath returns p, absolute and cleaned, with the symbolic links of its
// longest existing ancestor resolved: the file that reading p would reach,
// even when p does not exist yet.
func resolvePath(p string) string {
	p = filepath.Clean(p)
	var rest []string
	for cur := p; ; cur = filepath.Dir(cur) {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{real}, rest...)...)
		}
		if parent := filepath.Dir(cur); parent == cur {
			return p
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
	}
}

// contains reports whether l lies at or under root. S3 keys are compared
// segment by segment, so "prefix-x" is not under "prefix".
func (root location) contains(l location) bool {
	if root.scheme != l.scheme || root.bucket != l.bucket {
		return false
	}
	if root.scheme == "file" {
		rel, err := filepath.Rel(root.path, l.path)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	return root.path == "" || l.path == root.path || strings.HasPrefix(l.path, root.path+"/")
}

// storeLocation returns the canonical location of the mesh's own store.
func (a *Activities) storeLocation() (location, bool) {
	if a.Store == nil {
		return location{}, false
	}
	root := a.Store.URI("")
	if root == "" {
		return location{}, false
	}
	// A local store's URI is percent-encoded, unlike the file:// URIs of
	// inputs: ParseURI decodes it.
	scheme, bucketOrDir, prefix, err := storage.ParseURI(root)
	if err != nil {
		return location{}, false
	}
	if scheme == "file" {
		return location{scheme: "file", path: resolvePath(bucketOrDir)}, true
	}
	return location{scheme: scheme, bucket: bucketOrDir, path: prefix}, true
}

// inStore reports whether reading uri could read the store's own objects
// (published products, grants, mesh revisions, other runs' staging), which
// inputs may not read by URI: uri lies in the store, or the store lies under
// uri, which an input reads as a prefix. It compares canonical locations, so
// percent escapes, upper-case schemes, doubled slashes, ".." segments and
// symbolic links do not hide the store. A URI that cannot be parsed is
// treated as in the store: the check fails closed.
func (a *Activities) inStore(uri string) bool {
	root, ok := a.storeLocation()
	if !ok {
		return false
	}
	l, err := parseLocation(uri)
	if err != nil {
		return true
	}
	if root.contains(l) {
		return true
	}
	if l.scheme != root.scheme || l.bucket != root.bucket {
		return false
	}
	if l.scheme == "s3" {
		// An S3 listing is by string prefix: "pre" lists "prefix/…".
		return strings.HasPrefix(root.path, l.path)
	}
	return l.contains(root)
}

// errInStore is the refusal of an input whose URI reaches the mesh's store.
func errInStore(input refresh.Input, what string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("input %s: %s lies in the mesh's own store; read another product with product: <domain>/<name>, under its access rules",
		input.Name, what), refresh.ErrUnauthorized, nil)
}

// localRoot returns the folder that the files of a file:// input must
// resolve into: the mesh folder, when the revision keeps the URI as the spec
// wrote it (relative to the mesh folder, SpecURI), else the input's own
// folder (its path when that is a folder, its parent when a file, the folder
// before the first partition placeholder of a template).
func localRoot(input refresh.Input) string {
	abs := filepath.Clean(filepath.FromSlash(strings.TrimPrefix(input.URI, "file://")))
	if rel, ok := strings.CutPrefix(input.SpecURI, "file://"); ok && rel != "" && !strings.HasPrefix(rel, "/") {
		clean := path.Clean(rel)
		root := abs
		if clean != "." {
			for range strings.Split(clean, "/") {
				root = filepath.Dir(root)
			}
		}
		if filepath.Join(root, filepath.FromSlash(clean)) == abs {
			return root
		}
	}
	if before, _, ok := strings.Cut(abs, "{"); ok {
		return filepath.Dir(before)
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return abs
	}
	return filepath.Dir(abs)
}

// checkLocalFile refuses a local file of input that resolves, through
// symbolic links, outside the input's root (localRoot: the mesh folder) or
// into the mesh's own store. It returns the file's resolved path.
func (a *Activities) checkLocalFile(input refresh.Input, f string) (string, error) {
	real, err := filepath.EvalSymlinks(f)
	if errors.Is(err, fs.ErrNotExist) {
		return "", badInput("input %s: %s does not exist (or is a symbolic link to nothing)", input.Name, f)
	}
	if err != nil {
		return "", badInput("input %s: %v", input.Name, err)
	}
	file := location{scheme: "file", path: real}
	if root, ok := a.storeLocation(); ok && root.contains(file) {
		return "", errInStore(input, f)
	}
	root := location{scheme: "file", path: resolvePath(localRoot(input))}
	if !root.contains(file) {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("input %s: %s resolves through a symbolic link to %s, outside the mesh folder %s; keep input files in the mesh folder",
			input.Name, f, real, root.path), refresh.ErrUnauthorized, nil)
	}
	return real, nil
}

// localSource is a local file of input, checked by checkLocalFile again when
// it is opened, so that a link swapped in after the listing is refused too.
func (a *Activities) localSource(input refresh.Input, f string) source {
	return source{name: f, open: func(context.Context) (io.ReadCloser, error) {
		real, err := a.checkLocalFile(input, f)
		if err != nil {
			return nil, err
		}
		return os.Open(real)
	}}
}

// checkRunID refuses a run ID that is not one plain path segment. Run IDs
// name the run's scratch folder, which DuckDB's sandbox may read, and its
// staging prefix; Temporal's are UUIDs, so only an activity scheduled by a
// workflow other than meshflow's could send "../.." and widen the sandbox to
// the worker's whole disk, or write snapshots outside the scratch.
func checkRunID(runID string) error {
	if runID == "" || runID == "." || runID == ".." || strings.ContainsAny(runID, "/\\\x00") {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("run ID %q is not a plain name; refresh runs are started by meshflow", runID), refresh.ErrUnauthorized, nil)
	}
	return nil
}

// checkStagedInputs refuses staged inputs that are not this run's own
// snapshots: a transform reads only what Ingest staged for it, never
// another product's objects, grants or revisions named in its input.
func checkStagedInputs(ref, runID string, inputs []refresh.StagedInput) error {
	own := layout.StagingPrefix(ref, runID) + "/inputs/"
	for _, in := range inputs {
		for _, obj := range in.Objects {
			if !strings.HasPrefix(obj.Key, own) {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("input %s: %s is not a snapshot of this run (%s…); refresh runs are started by meshflow", in.Name, obj.Key, own),
					refresh.ErrUnauthorized, nil)
			}
		}
	}
	return nil
}
