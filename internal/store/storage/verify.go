package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// verifyingReader hashes what it reads and, at EOF, fails with
// ErrChecksumMismatch unless the content matched the expected size and
// SHA-256. Data of a corrupt object is still handed out before EOF, so callers
// must treat the whole read as failed when Read returns an error, as they do
// for any other read error.
type verifyingReader struct {
	r        io.ReadCloser
	key      string
	h        hash.Hash
	n        int64
	wantSize int64
	wantSHA  string // hex
	err      error  // sticky verdict once EOF was reached
}

func newVerifyingReader(r io.ReadCloser, key string, size int64, sha string) io.ReadCloser {
	if sha == "" {
		return r
	}
	return &verifyingReader{r: r, key: key, h: sha256.New(), wantSize: size, wantSHA: sha}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		got := hex.EncodeToString(v.h.Sum(nil))
		switch {
		case v.wantSize >= 0 && v.n != v.wantSize:
			v.err = fmt.Errorf("read %s: got %d bytes, want %d: %w", v.key, v.n, v.wantSize, ErrChecksumMismatch)
		case got != v.wantSHA:
			v.err = fmt.Errorf("read %s: content has sha256 %s, want %s: %w", v.key, got, v.wantSHA, ErrChecksumMismatch)
		default:
			v.err = io.EOF
		}
		return n, v.err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.r.Close() }
