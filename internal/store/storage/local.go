package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// LocalStore is a Store in a local directory: key "a/b" is the file
// <root>/a/b.
//
// Writes are atomic: content goes to a temporary file in the key's directory,
// is synced, and is then linked or renamed into place, so readers see either
// the old or the new object, never a partial one. A crashed write leaves only a
// ".meshflow-tmp-*" file that List ignores.
//
// Every change of a key (Put of any kind and Delete) holds an exclusive flock
// on that key's lock file under <root>/.meshflow/locks while it checks the
// precondition and moves the new file into place. flock excludes both other
// processes and other goroutines of this one (each lock opens its own file
// description), so conditional writes are serialized per key:
//
//   - IfNoneMatch creates the key with link(2), which fails if the name
//     exists, so even a writer that bypassed the lock could not be overwritten.
//   - IfMatch compares the key's current ETag with the expected one and renames
//     the new file over it while still holding the lock.
//
// The lock is taken only after the content is written, so it is held for a
// metadata check and a rename, never for a whole upload. Waiting for it does
// not observe the context.
//
// An object's ETag is the hex SHA-256 of its content. The digest is recorded in
// an extended attribute (user.meshflow.sha256) of the file before it is moved
// into place, together with its size and modification time; a file without a
// valid record (placed by another program, or on a file system without user
// extended attributes) is hashed when it is first read. Get verifies the
// digest while the caller reads.
//
// The root must be on a local file system that supports flock and hard links,
// and should be used by meshflow alone: the store does not follow or create
// symbolic links on purpose, and keys may not start a segment with
// ".meshflow". A key cannot also be a directory of other keys ("a" and "a/b"
// cannot both exist), unlike in S3. Empty directories left by Delete are kept.
type LocalStore struct {
	root string
}

var _ Store = (*LocalStore)(nil)

// lockDir is where the per-key lock files live, relative to the root.
const lockDir = reservedPrefix + "/locks"

// tmpPattern names temporary files; List skips them.
const tmpPattern = reservedPrefix + "-tmp-*"

// OpenLocal opens the local store rooted at dir, creating the directory if it
// does not exist.
func OpenLocal(dir string) (*LocalStore, error) {
	if dir == "" {
		return nil, errors.New("open local store: empty directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open local store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(lockDir)), 0o755); err != nil {
		return nil, fmt.Errorf("open local store %s: %w", root, err)
	}
	return &LocalStore{root: root}, nil
}

// Root returns the store's absolute root directory.
func (s *LocalStore) Root() string { return s.root }

func (s *LocalStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// URI returns "file://" followed by the absolute path of key.
func (s *LocalStore) URI(key string) string {
	p := s.root
	if key != "" {
		p = s.path(key)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
}

// Put writes r to key atomically; see LocalStore for how conditional writes
// are made safe.
func (s *LocalStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (obj Object, err error) {
	opts, err = checkPutOptions(opts)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, fmt.Errorf("put: %w", err)
	}
	p := s.path(key)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, tmpPattern)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	tmpName := tmp.Name()
	defer func() {
		// After a successful rename the temporary name is gone; after a
		// link, or on any failure, it must be removed.
		if rmErr := os.Remove(tmpName); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("put %s: remove temporary file: %w", key, rmErr)
		}
	}()
	obj, err = writeTemp(ctx, tmp, key, r)
	if closeErr := tmp.Close(); err == nil && closeErr != nil {
		err = closeErr
	}
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}

	lk, err := s.lock(key)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if unlockErr := lk.unlock(); unlockErr != nil && err == nil {
			err = fmt.Errorf("put %s: unlock: %w", key, unlockErr)
		}
	}()
	if fi, statErr := os.Lstat(p); statErr == nil && fi.IsDir() {
		return Object{}, fmt.Errorf("put %s: key is a directory holding other keys", key)
	}
	switch {
	case opts.IfNoneMatch:
		if err := os.Link(tmpName, p); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return Object{}, fmt.Errorf("put %s: key exists: %w", key, ErrPreconditionFailed)
			}
			return Object{}, fmt.Errorf("put %s: %w", key, err)
		}
	case opts.IfMatch != "":
		cur, err := s.head(key)
		if errors.Is(err, ErrNotFound) {
			return Object{}, fmt.Errorf("put %s: if-match %s: %w: %w", key, opts.IfMatch, ErrPreconditionFailed, ErrNotFound)
		}
		if err != nil {
			return Object{}, fmt.Errorf("put %s: %w", key, err)
		}
		if cur.ETag != opts.IfMatch {
			return Object{}, fmt.Errorf("put %s: if-match %s: current ETag is %s: %w", key, opts.IfMatch, cur.ETag, ErrPreconditionFailed)
		}
		if err := os.Rename(tmpName, p); err != nil {
			return Object{}, fmt.Errorf("put %s: %w", key, err)
		}
	default:
		if err := os.Rename(tmpName, p); err != nil {
			return Object{}, fmt.Errorf("put %s: %w", key, err)
		}
	}
	if err := syncDir(dir); err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	return obj, nil
}

// writeTemp copies r into the open temporary file f, syncs it, makes it
// readable and records its digest.
func writeTemp(ctx context.Context, f *os.File, key string, r io.Reader) (Object, error) {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r}); err != nil {
		return Object{}, err
	}
	if err := f.Chmod(0o644); err != nil {
		return Object{}, err
	}
	if err := f.Sync(); err != nil {
		return Object{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := writeDigest(f, fi, sum); err != nil {
		return Object{}, err
	}
	return Object{Key: key, Size: fi.Size(), ETag: sum, SHA256: sum, Modified: fi.ModTime()}, nil
}

// Get opens key; the reader verifies the content's SHA-256 at EOF.
func (s *LocalStore) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	f, obj, err := s.open(key)
	if err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	return newVerifyingReader(f, key, obj.Size, obj.SHA256), obj, nil
}

// Head returns the object stored under key.
func (s *LocalStore) Head(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, fmt.Errorf("head: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("head %s: %w", key, err)
	}
	obj, err := s.head(key)
	if err != nil {
		return Object{}, fmt.Errorf("head %s: %w", key, err)
	}
	return obj, nil
}

func (s *LocalStore) head(key string) (Object, error) {
	f, obj, err := s.open(key)
	if err != nil {
		return Object{}, err
	}
	return obj, f.Close()
}

// open opens key's file and describes it; a missing key, or one that is a
// directory, is ErrNotFound.
func (s *LocalStore) open(key string) (*os.File, Object, error) {
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, Object{}, ErrNotFound
		}
		return nil, Object{}, err
	}
	obj, err := describe(f, key)
	if err != nil {
		_ = f.Close() // the describe error is the one to report
		return nil, Object{}, err
	}
	return f, obj, nil
}

// describe returns the Object for the open file f, hashing it if its digest
// record is missing or stale.
func describe(f *os.File, key string) (Object, error) {
	fi, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if !fi.Mode().IsRegular() {
		return Object{}, ErrNotFound
	}
	sum, ok := readDigest(f, fi)
	if !ok {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, fi.Size())); err != nil {
			return Object{}, fmt.Errorf("hash: %w", err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		// Caching the digest is an optimization: a read-only store or a file
		// system without extended attributes just hashes again next time.
		_ = writeDigest(f, fi, sum)
	}
	return Object{Key: key, Size: fi.Size(), ETag: sum, SHA256: sum, Modified: fi.ModTime()}, nil
}

// List returns the objects whose keys start with prefix, sorted by key.
func (s *LocalStore) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = s.path(prefix[:i])
	}
	var objs []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil // a prefix with no keys, or a key removed meanwhile
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.root {
			return nil
		}
		if strings.HasPrefix(d.Name(), reservedPrefix) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		f, obj, err := s.open(key)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		objs = append(objs, obj)
		return f.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	// WalkDir visits "a/b" before "a-c" although "a-c" sorts first as a key.
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key; a missing key is not an error.
func (s *LocalStore) Delete(ctx context.Context, key string) (err error) {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	lk, err := s.lock(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	defer func() {
		if unlockErr := lk.unlock(); unlockErr != nil && err == nil {
			err = fmt.Errorf("delete %s: unlock: %w", key, unlockErr)
		}
	}()
	p := s.path(key)
	if fi, statErr := os.Lstat(p); statErr == nil && fi.IsDir() {
		return nil // a directory of other keys, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := lk.removeFile(); err != nil {
		return fmt.Errorf("delete %s: remove lock file: %w", key, err)
	}
	return nil
}

// keyLock is a held per-key lock.
type keyLock struct {
	f    *os.File
	name string
}

// lock takes the exclusive per-key lock.
//
// Lock files are named by the SHA-256 of the key, so any key maps to one flat
// file name. The holder may remove its lock file (Delete does, so that lock
// files do not pile up); that is why a locker checks after flock that the file
// it locked is still the one at the lock path, and starts over if not.
func (s *LocalStore) lock(key string) (*keyLock, error) {
	sum := sha256.Sum256([]byte(key))
	name := filepath.Join(s.root, filepath.FromSlash(lockDir), hex.EncodeToString(sum[:])+".lock")
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if errors.Is(err, fs.ErrNotExist) {
			// Someone removed the lock directory; recreate it.
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return nil, fmt.Errorf("lock: %w", err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lock: %w", err)
		}
		if err := flock(f); err != nil {
			_ = f.Close() // reporting the flock error
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		held, err := f.Stat()
		if err != nil {
			_ = f.Close() // reporting the stat error
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if cur, err := os.Stat(name); err == nil && os.SameFile(held, cur) {
			return &keyLock{f: f, name: name}, nil
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
	}
}

// unlock releases the lock: closing the last descriptor releases the flock.
func (l *keyLock) unlock() error { return l.f.Close() }

// removeFile unlinks the lock file while the lock is still held; lockers
// waiting on the old file notice and start over.
func (l *keyLock) removeFile() error {
	if err := os.Remove(l.name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil // file systems that cannot sync directories
	}
	if closeErr := d.Close(); err == nil {
		err = closeErr
	}
	return err
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
