package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Store is the object store that activities need. Keys are slash-separated and
// relative to the store's root (its directory or bucket prefix).
type Store interface {
	// Put writes the content of r under key and returns the stored object.
	// With opts.IfNoneMatch the write succeeds only if key does not exist; with
	// opts.IfMatch only if key exists and still has that ETag. Otherwise it
	// fails with ErrPreconditionFailed and the stored object is unchanged.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error)
	// Get opens key for reading. The reader verifies the object's SHA-256 when
	// the store knows it, and its Read returns ErrChecksumMismatch at the end
	// of a corrupt object. The caller must close the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Head returns the object stored under key without its content.
	Head(ctx context.Context, key string) (Object, error)
	// List returns every object whose key starts with prefix, sorted by key.
	// An empty prefix lists the whole store.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key. Deleting a key that does not exist is not an error,
	// so a retried delete is harmless.
	Delete(ctx context.Context, key string) error
	// URI returns the absolute URI of key, such as "file:///data/a/b" or
	// "s3://bucket/prefix/a/b".
	URI(key string) string
}

// PutOptions are the conditions and metadata of a Put. At most one of
// IfNoneMatch and IfMatch may be set.
type PutOptions struct {
	// IfNoneMatch makes the Put create-only: it fails with
	// ErrPreconditionFailed if key already exists.
	IfNoneMatch bool
	// IfMatch makes the Put replace-only: it succeeds only if key exists and
	// its ETag equals IfMatch, and fails with ErrPreconditionFailed otherwise
	// (for a missing key the error also matches ErrNotFound).
	IfMatch string
	// ContentType is the media type stored with the object; empty means
	// "application/octet-stream". The local store does not keep it.
	ContentType string
}

// Object describes a stored object.
type Object struct {
	// Key is the object's key relative to the store's root.
	Key string
	// Size is the content length in bytes.
	Size int64
	// ETag identifies this version of the object; pass it to
	// PutOptions.IfMatch. It is unquoted.
	ETag string
	// SHA256 is the hex SHA-256 of the content, when the store knows it.
	SHA256 string
	// Modified is the time of the last write.
	Modified time.Time
}

var (
	// ErrNotFound reports a key that does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrPreconditionFailed reports a conditional Put that lost: IfNoneMatch on
	// an existing key, or IfMatch on a key that changed or vanished.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalidKey reports a key or prefix that is not a clean relative
	// slash-separated path.
	ErrInvalidKey = errors.New("invalid key")
	// ErrChecksumMismatch reports content whose SHA-256 differs from the one
	// recorded when it was written.
	ErrChecksumMismatch = errors.New("sha256 checksum mismatch")
)

// maxKeyLen is S3's limit on the length of a key, applied to both stores so
// that data moves between them.
const maxKeyLen = 1024

// reservedPrefix starts the names of the local store's own files (locks,
// temporary files). Keys may not contain a segment starting with it.
const reservedPrefix = ".meshflow"

// ValidateKey reports whether key is a valid object key: non-empty UTF-8 of at
// most 1024 bytes, slash-separated segments that are neither empty, "." nor
// "..", without backslashes or NUL bytes, not starting or ending with a slash,
// and with no segment starting with ".meshflow" (reserved for the local
// store's own files). Errors match ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	return validatePath(key, false)
}

// validatePrefix checks a List prefix: empty, or a key that may end with a
// slash or stop in the middle of a segment.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	trimmed := strings.TrimSuffix(prefix, "/")
	if trimmed == "" {
		return fmt.Errorf("%w: prefix %q: must not start with a slash", ErrInvalidKey, prefix)
	}
	return validatePath(trimmed, true)
}

func validatePath(key string, isPrefix bool) error {
	what := "key"
	if isPrefix {
		what = "prefix"
	}
	switch {
	case len(key) > maxKeyLen:
		return fmt.Errorf("%w: %s of %d bytes is longer than %d", ErrInvalidKey, what, len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidKey, what, key)
	case strings.ContainsRune(key, '\\'):
		return fmt.Errorf("%w: %s %q contains a backslash; use slashes", ErrInvalidKey, what, key)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidKey, what, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %s %q is absolute; keys are relative to the store's root", ErrInvalidKey, what, key)
	case strings.HasSuffix(key, "/"):
		return fmt.Errorf("%w: %s %q ends with a slash", ErrInvalidKey, what, key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %s %q has an empty segment", ErrInvalidKey, what, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %s %q has a %q segment", ErrInvalidKey, what, key, seg)
		case strings.HasPrefix(seg, reservedPrefix):
			return fmt.Errorf("%w: %s %q has a segment starting with %q, which is reserved", ErrInvalidKey, what, key, reservedPrefix)
		}
	}
	return nil
}

// bucketName matches S3 bucket names: 3 to 63 lower-case letters, digits,
// dots and hyphens, starting and ending with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ParseURI splits a store URI into its scheme ("file" or "s3"), its directory
// or bucket, and its key prefix. It accepts "file:///abs/dir", a plain path
// (made absolute against the working directory) and "s3://bucket/prefix". A
// file URI has an empty prefix; an S3 prefix has no leading or trailing slash.
func ParseURI(uri string) (scheme, bucketOrDir, prefix string, err error) {
	if uri == "" {
		return "", "", "", errors.New("parse store URI: empty URI; want file:///dir, a path, or s3://bucket/prefix")
	}
	if !strings.Contains(uri, "://") {
		if strings.HasPrefix(uri, "s3:") || strings.HasPrefix(uri, "file:") {
			return "", "", "", fmt.Errorf("parse store URI %q: missing \"//\" after the scheme", uri)
		}
		dir, err := filepath.Abs(uri)
		if err != nil {
			return "", "", "", fmt.Errorf("parse store URI %q: %w", uri, err)
		}
		return "file", dir, "", nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", "", fmt.Errorf("parse store URI %q: %w", uri, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", "", fmt.Errorf("parse store URI %q: query, fragment and user info are not allowed", uri)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", "", "", fmt.Errorf("parse store URI %q: file URIs name a local directory; host %q is not allowed (use file:///abs/dir)", uri, u.Host)
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return "", "", "", fmt.Errorf("parse store URI %q: file URI needs an absolute path (file:///abs/dir)", uri)
		}
		return "file", filepath.Clean(filepath.FromSlash(u.Path)), "", nil
	case "s3":
		if u.Host == "" {
			return "", "", "", fmt.Errorf("parse store URI %q: missing bucket (want s3://bucket/prefix)", uri)
		}
		if !bucketName.MatchString(u.Host) || strings.Contains(u.Host, "..") {
			return "", "", "", fmt.Errorf("parse store URI %q: %q is not a valid S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)", uri, u.Host)
		}
		p := strings.Trim(u.Path, "/")
		if p != "" {
			if err := validatePath(p, true); err != nil {
				return "", "", "", fmt.Errorf("parse store URI %q: %w", uri, err)
			}
		}
		return "s3", u.Host, p, nil
	default:
		return "", "", "", fmt.Errorf("parse store URI %q: unsupported scheme %q; want file:// or s3://", uri, u.Scheme)
	}
}

// Open opens the store that uri names: a local directory for "file:///dir" or
// a plain path (created if missing), an S3 bucket and prefix for
// "s3://bucket/prefix" (configured by cfg, which a local store ignores).
func Open(ctx context.Context, uri string, cfg S3Config) (Store, error) {
	scheme, dir, prefix, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	switch scheme {
	case "file":
		return OpenLocal(dir)
	default:
		return OpenS3(ctx, dir, prefix, cfg)
	}
}

// checkPutOptions validates opts and returns them with IfMatch unquoted, so
// that both the bare ETags of Object and quoted HTTP ETags are accepted.
func checkPutOptions(opts PutOptions) (PutOptions, error) {
	opts.IfMatch = strings.TrimSuffix(strings.TrimPrefix(opts.IfMatch, `"`), `"`)
	if opts.IfNoneMatch && opts.IfMatch != "" {
		return opts, errors.New("IfNoneMatch and IfMatch are mutually exclusive")
	}
	if strings.ContainsAny(opts.IfMatch, "\"*, ") {
		return opts, fmt.Errorf("IfMatch %q is not an ETag returned by this store", opts.IfMatch)
	}
	return opts, nil
}
