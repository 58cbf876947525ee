package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Copier is a Store that copies an object inside the server, without the bytes
// passing through the client.
type Copier interface {
	// Copy copies src to dst and returns the copy. The copy's SHA-256, as the
	// server computed it, must equal want.SHA256 and its size want.Size: a copy
	// that differs is deleted and Copy returns ErrChecksumMismatch. When the
	// server cannot copy this object, or does not say the copy's checksum,
	// Copy returns ErrCopyUnsupported and writes nothing the caller must
	// clean up: copy the bytes through the client instead.
	Copy(ctx context.Context, src, dst string, want Object) (Object, error)
}

// ErrCopyUnsupported says that a store cannot copy an object itself.
var ErrCopyUnsupported = errors.New("the store cannot copy this object itself")

var _ Copier = (*S3Store)(nil)

// Copy copies src to dst with CopyObject and the server's SHA-256 of the copy
// (see Copier). Objects larger than one CopyObject allows (5 GiB) are not
// copied.
func (s *S3Store) Copy(ctx context.Context, src, dst string, want Object) (Object, error) {
	for _, k := range []string{src, dst} {
		if err := ValidateKey(k); err != nil {
			return Object{}, fmt.Errorf("copy: %w", err)
		}
	}
	if want.SHA256 == "" || want.Size > maxSinglePut {
		return Object{}, ErrCopyUnsupported
	}
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.full(dst)),
		CopySource:        aws.String(copySource(s.bucket, s.full(src))),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	}
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
		if s.cfg.KMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
		}
	}
	out, err := s.client.CopyObject(ctx, in)
	if err != nil {
		return Object{}, fmt.Errorf("copy %s to %s: %w", src, dst, mapError(err))
	}
	if out.CopyObjectResult != nil {
		// The server's checksum of the copy proves its bytes, and its size
		// with them.
		if got := decodeChecksum(out.CopyObjectResult.ChecksumSHA256); got != "" {
			if got != want.SHA256 {
				return Object{}, s.mismatch(ctx, src, dst, want, Object{Size: want.Size, SHA256: got})
			}
			return Object{Key: dst, Size: want.Size, ETag: unquote(aws.ToString(out.CopyObjectResult.ETag)), SHA256: got,
				Modified: aws.ToTime(out.CopyObjectResult.LastModified)}, nil
		}
	}
	obj, err := s.Head(ctx, dst)
	if err != nil {
		return Object{}, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	switch {
	case obj.SHA256 == "":
		// The server keeps no checksum of the copy: nothing proves its bytes.
		_ = s.Delete(ctx, dst)
		return Object{}, ErrCopyUnsupported
	case obj.SHA256 != want.SHA256 || obj.Size != want.Size:
		return Object{}, s.mismatch(ctx, src, dst, want, obj)
	}
	return obj, nil
}

// mismatch deletes a copy whose bytes differ from what was wanted and says so.
func (s *S3Store) mismatch(ctx context.Context, src, dst string, want, got Object) error {
	_ = s.Delete(ctx, dst)
	return fmt.Errorf("copy %s to %s: the copy has %d bytes and sha256 %s, want %d bytes and %s: %w",
		src, dst, got.Size, got.SHA256, want.Size, want.SHA256, ErrChecksumMismatch)
}

// copySource is the x-amz-copy-source of key in bucket: each segment
// URL-escaped, slashes kept.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(segs, "/")
}
