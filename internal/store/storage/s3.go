package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithymiddleware "github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Checksum modes of S3Config.ChecksumMode.
const (
	// ChecksumWhenSupported lets the SDK add checksums to every operation
	// that supports them (the SDK's own default, right for AWS S3).
	ChecksumWhenSupported = "when_supported"
	// ChecksumWhenRequired limits SDK checksums to operations that require
	// them and to those meshflow asks for explicitly (its SHA-256 on every
	// upload and download). Use it for S3-compatible servers that reject the
	// SDK's default trailing CRC checksums.
	ChecksumWhenRequired = "when_required"
)

// Defaults of S3Config.
const (
	DefaultS3Region                = "us-east-1"
	DefaultS3DialTimeout           = 10 * time.Second
	DefaultS3ResponseHeaderTimeout = 60 * time.Second
	DefaultS3MaxAttempts           = 3
)

// maxSinglePut is S3's limit on the size of one PutObject.
const maxSinglePut = 5 << 30

// S3Config configures the S3 client of an S3Store. The zero value talks to
// AWS S3 with the default credential chain; every field has a documented
// default, and Validate rejects values that cannot work.
type S3Config struct {
	// Endpoint overrides the service endpoint, e.g. "http://127.0.0.1:7070"
	// for an S3-compatible server. Empty means AWS S3.
	Endpoint string `yaml:"endpoint"`
	// Region is the signing region. Empty means the default chain's region
	// (AWS_REGION, shared config), and "us-east-1" if that is empty too.
	Region string `yaml:"region"`
	// PathStyle addresses buckets as endpoint/bucket instead of
	// bucket.endpoint; most S3-compatible servers need it.
	PathStyle bool `yaml:"pathStyle"`
	// AccessKeyID and SecretAccessKey are static credentials (with an
	// optional SessionToken). Both empty means the default credential chain
	// (environment, shared files, IAM role); setting only one is an error.
	AccessKeyID     string `yaml:"accessKeyID"`
	SecretAccessKey string `yaml:"secretAccessKey"`
	SessionToken    string `yaml:"sessionToken"`
	// ChecksumMode is ChecksumWhenSupported (the default when empty) or
	// ChecksumWhenRequired. Either way uploads carry a SHA-256 checksum and
	// downloads verify one when the server returns it.
	ChecksumMode string `yaml:"checksumMode"`
	// DialTimeout bounds opening a connection; default 10s.
	DialTimeout time.Duration `yaml:"dialTimeout"`
	// ResponseHeaderTimeout bounds the wait for a response's headers after a
	// request was sent; default 60s. It does not limit how long a large
	// body takes to transfer: the caller's context does that.
	ResponseHeaderTimeout time.Duration `yaml:"responseHeaderTimeout"`
	// MaxAttempts is how often a request is tried in all on a retryable
	// error; default 3.
	MaxAttempts int `yaml:"maxAttempts"`
	// TempDir is where uploads from non-seekable readers are buffered to
	// learn their length and checksum; default os.TempDir().
	TempDir string `yaml:"tempDir"`
	// SSE asks the server to encrypt every object meshflow writes: "" (the
	// bucket's default encryption), SSEKMS ("aws:kms") or SSES3 ("AES256").
	// Bucket policies that deny unencrypted puts need it set.
	SSE string `yaml:"sse"`
	// KMSKeyID is the KMS key (ID, ARN or alias) of SSE "aws:kms"; empty means
	// the account's AWS-managed key for S3.
	KMSKeyID string `yaml:"kmsKeyID"`
}

// Server-side encryption modes of S3Config.SSE.
const (
	SSEKMS = "aws:kms"
	SSES3  = "AES256"
)

// Validate reports configuration errors.
func (c S3Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("endpoint %q: want an http:// or https:// URL", c.Endpoint))
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, errors.New("accessKeyID and secretAccessKey must be set together (or both left empty for the default credential chain)"))
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		errs = append(errs, errors.New("sessionToken needs accessKeyID and secretAccessKey"))
	}
	switch c.ChecksumMode {
	case "", ChecksumWhenSupported, ChecksumWhenRequired:
	default:
		errs = append(errs, fmt.Errorf("checksumMode %q: want %q or %q", c.ChecksumMode, ChecksumWhenSupported, ChecksumWhenRequired))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("dialTimeout %s is negative", c.DialTimeout))
	}
	if c.ResponseHeaderTimeout < 0 {
		errs = append(errs, fmt.Errorf("responseHeaderTimeout %s is negative", c.ResponseHeaderTimeout))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("maxAttempts %d is negative", c.MaxAttempts))
	}
	switch c.SSE {
	case "", SSEKMS, SSES3:
	default:
		errs = append(errs, fmt.Errorf("sse %q: want %q (SSE-KMS), %q (SSE-S3) or empty (the bucket's default)", c.SSE, SSEKMS, SSES3))
	}
	if c.KMSKeyID != "" && c.SSE != SSEKMS {
		errs = append(errs, fmt.Errorf("kmsKeyID needs sse %q (got %q)", SSEKMS, c.SSE))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its empty fields set to their defaults (Region
// is resolved later, after the default chain had its say).
func (c S3Config) withDefaults() S3Config {
	if c.ChecksumMode == "" {
		c.ChecksumMode = ChecksumWhenSupported
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultS3DialTimeout
	}
	if c.ResponseHeaderTimeout == 0 {
		c.ResponseHeaderTimeout = DefaultS3ResponseHeaderTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultS3MaxAttempts
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	return c
}

// newAWSConfig is the one place that builds AWS configuration: default
// credential chain or static keys, region, HTTP timeouts, retries and the
// checksum mode. The endpoint and path style are S3 client options, set in
// OpenS3.
func newAWSConfig(ctx context.Context, c S3Config) (aws.Config, error) {
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = c.DialTimeout }).
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = c.ResponseHeaderTimeout })
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryMaxAttempts(c.MaxAttempts),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	switch c.ChecksumMode {
	case ChecksumWhenRequired:
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	default:
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenSupported),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenSupported))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultS3Region
	}
	return awsCfg, nil
}

// S3Store is a Store in an S3 bucket under a key prefix: key "a/b" of the
// store "s3://bucket/p" is the object "p/a/b".
//
// Conditional writes are the server's: PutObject carries If-None-Match: * or
// If-Match: "<etag>", and the server's 412 PreconditionFailed and 409
// ConditionalRequestConflict become ErrPreconditionFailed. The server must
// implement them atomically (AWS S3 does; versitygw from v1.8.0).
//
// A conditional PutObject is not retried by the SDK: if an attempt fails after
// the request may have reached the server (a timeout, a reset connection, a
// 5xx) the store retries it itself, and if that retry then fails its
// precondition while the key holds exactly the bytes being written, the first
// attempt is taken to have succeeded. A lost response thus does not turn a
// won race into a lost one.
//
// Every upload sends the content's SHA-256 (x-amz-checksum-sha256), which the
// server checks; Get and Head ask for the stored checksum, and Get verifies
// the content against it as the caller reads. Content that is not an
// io.ReaderAt and io.Seeker is buffered to a temporary file first (never in
// memory) to learn its length and digest. One object is at most 5 GiB
// (one PutObject); multipart uploads are not implemented.
type S3Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // without leading or trailing slash
	cfg      S3Config
	pageSize int32
	bucketOK atomic.Bool // the bucket was seen to exist
}

var _ Store = (*S3Store)(nil)

// OpenS3 returns the store for prefix in bucket. It builds the client only;
// the first request is the first contact with the server.
func OpenS3(ctx context.Context, bucket, prefix string, cfg S3Config) (*S3Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open s3://%s/%s: %w", bucket, prefix, err)
	}
	if !bucketName.MatchString(bucket) {
		return nil, fmt.Errorf("open s3://%s: invalid bucket name", bucket)
	}
	prefix = strings.Trim(prefix, "/")
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("open s3://%s/%s: %w", bucket, prefix, err)
	}
	cfg = cfg.withDefaults()
	awsCfg, err := newAWSConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open s3://%s/%s: load AWS config: %w", bucket, prefix, err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// The store verifies SHA-256 itself; objects without a checksum are
		// normal and not worth a log line each.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return &S3Store{client: client, bucket: bucket, prefix: prefix, cfg: cfg, pageSize: 1000}, nil
}

// Client returns the underlying S3 client, for tests and administration.
func (s *S3Store) Client() *s3.Client { return s.client }

func (s *S3Store) full(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// URI returns "s3://bucket/prefix/key".
func (s *S3Store) URI(key string) string {
	if key == "" {
		return "s3://" + s.bucket + "/" + s.prefix
	}
	return "s3://" + s.bucket + "/" + s.full(key)
}

// Put uploads r to key with its SHA-256; see S3Store for conditional writes.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error) {
	opts, err := checkPutOptions(opts)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := ValidateKey(key); err != nil {
		return Object{}, fmt.Errorf("put: %w", err)
	}
	body, size, sum, cleanup, err := s.prepareBody(ctx, r)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer cleanup()
	if size > maxSinglePut {
		return Object{}, fmt.Errorf("put %s: %d bytes exceed the 5 GiB limit of one upload", key, size)
	}
	contentType := opts.ContentType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(s.full(key)),
		Body:              body,
		ContentLength:     aws.Int64(size),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256:    aws.String(base64.StdEncoding.EncodeToString(sum)),
	}
	if s.cfg.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.SSE)
		if s.cfg.KMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
		}
	}
	hexSum := hex.EncodeToString(sum)
	var out *s3.PutObjectOutput
	if opts.IfNoneMatch || opts.IfMatch != "" {
		if opts.IfNoneMatch {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(`"` + opts.IfMatch + `"`)
		}
		out, err = s.conditionalPut(ctx, in, body, hexSum)
	} else {
		out, err = s.client.PutObject(ctx, in)
	}
	if err != nil {
		err = mapError(err)
		if opts.IfMatch != "" && errors.Is(err, ErrNotFound) {
			return Object{}, fmt.Errorf("put %s: if-match %s: %w: %w", key, opts.IfMatch, ErrPreconditionFailed, ErrNotFound)
		}
		return Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if echoed := decodeChecksum(out.ChecksumSHA256); echoed != "" && echoed != hexSum {
		return Object{}, fmt.Errorf("put %s: server stored sha256 %s, sent %s: %w", key, echoed, hexSum, ErrChecksumMismatch)
	}
	modified := time.Now().UTC()
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(raw.Header.Get("Date")); err == nil {
			modified = t
		}
	}
	return Object{Key: key, Size: size, ETag: unquote(aws.ToString(out.ETag)), SHA256: hexSum, Modified: modified}, nil
}

// conditionalPut runs a conditional PutObject with its own retries; see
// S3Store for why.
func (s *S3Store) conditionalPut(ctx context.Context, in *s3.PutObjectInput, body io.Seeker, hexSum string) (*s3.PutObjectOutput, error) {
	retryable := retry.IsErrorRetryables(retry.DefaultRetryables)
	backoff := retry.NewExponentialJitterBackoff(5 * time.Second)
	ambiguous := false
	for attempt := 1; ; attempt++ {
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("rewind body: %w", err)
		}
		out, err := s.client.PutObject(ctx, in, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			return out, nil
		}
		if errors.Is(mapError(err), ErrPreconditionFailed) {
			if ambiguous {
				// An earlier attempt may have committed these very bytes.
				head, headErr := s.client.HeadObject(ctx, &s3.HeadObjectInput{
					Bucket: in.Bucket, Key: in.Key, ChecksumMode: types.ChecksumModeEnabled,
				})
				if headErr == nil && decodeChecksum(head.ChecksumSHA256) == hexSum {
					return &s3.PutObjectOutput{ETag: head.ETag, ChecksumSHA256: head.ChecksumSHA256, ResultMetadata: head.ResultMetadata}, nil
				}
			}
			return nil, err
		}
		if ctx.Err() != nil || attempt >= s.cfg.MaxAttempts || retryable.IsErrorRetryable(err) != aws.TrueTernary {
			return nil, err
		}
		ambiguous = true
		delay, derr := backoff.BackoffDelay(attempt, err)
		if derr != nil {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// prepareBody returns a rewindable body for r with its length and SHA-256.
// Readers that are io.ReaderAt and io.Seeker (files, bytes.Reader) are read
// twice in place; any other reader is buffered to a temporary file.
func (s *S3Store) prepareBody(ctx context.Context, r io.Reader) (body io.ReadSeeker, size int64, sum []byte, cleanup func(), err error) {
	type readerAtSeeker interface {
		io.ReaderAt
		io.Seeker
	}
	h := sha256.New()
	if ras, ok := r.(readerAtSeeker); ok {
		start, err := ras.Seek(0, io.SeekCurrent)
		if err == nil {
			end, err := ras.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, 0, nil, nil, fmt.Errorf("measure body: %w", err)
			}
			section := io.NewSectionReader(ras, start, end-start)
			if _, err := io.Copy(h, ctxReader{ctx: ctx, r: section}); err != nil {
				return nil, 0, nil, nil, fmt.Errorf("hash body: %w", err)
			}
			if _, err := section.Seek(0, io.SeekStart); err != nil {
				return nil, 0, nil, nil, fmt.Errorf("rewind body: %w", err)
			}
			return section, end - start, h.Sum(nil), func() {}, nil
		}
	}
	f, err := os.CreateTemp(s.cfg.TempDir, "meshflow-upload-*")
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("buffer body: %w", err)
	}
	cleanup = func() {
		// Nothing useful can be done about a temporary file that will not
		// go away; the upload's result is what matters.
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		cleanup()
		return nil, 0, nil, nil, fmt.Errorf("buffer body: %w", err)
	}
	return io.NewSectionReader(f, 0, n), n, h.Sum(nil), cleanup, nil
}

// Get downloads key; the reader verifies the server's SHA-256 checksum when
// the object has one.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, fmt.Errorf("get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(s.full(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	}, withoutSDKResponseValidation)
	if err != nil {
		return nil, Object{}, fmt.Errorf("get %s: %w", key, mapError(err))
	}
	obj := Object{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(aws.ToString(out.ETag)),
		Modified: aws.ToTime(out.LastModified),
	}
	if out.ChecksumType == "" || out.ChecksumType == types.ChecksumTypeFullObject {
		obj.SHA256 = decodeChecksum(out.ChecksumSHA256)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = obj.Size
	}
	return newVerifyingReader(out.Body, key, size, obj.SHA256), obj, nil
}

// sdkValidateOutputID names the SDK middleware that validates response
// checksums.
const sdkValidateOutputID = "AWSChecksum:ValidateOutputPayloadChecksum"

// withoutSDKResponseValidation removes the SDK's response checksum check from
// a GetObject: Get verifies the same SHA-256 itself and reports a mismatch as
// ErrChecksumMismatch, and hashing twice would waste CPU on large objects. If
// a future SDK renames the middleware, the removal is skipped and both checks
// run (a mismatch is still an error, but the SDK's).
func withoutSDKResponseValidation(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *smithymiddleware.Stack) error {
		_, _ = stack.Deserialize.Remove(sdkValidateOutputID) // see above: absence is fine
		return nil
	})
}

// Head returns the object stored under key, with its SHA-256 when the server
// has one.
func (s *S3Store) Head(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, fmt.Errorf("head: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(s.full(key)),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		err = mapError(err)
		if errors.Is(err, ErrNotFound) {
			// HEAD responses have no body, so a missing bucket looks like a
			// missing key; tell them apart before reporting ErrNotFound.
			if berr := s.checkBucket(ctx); berr != nil {
				err = berr
			}
		}
		return Object{}, fmt.Errorf("head %s: %w", key, err)
	}
	obj := Object{
		Key:      key,
		Size:     aws.ToInt64(out.ContentLength),
		ETag:     unquote(aws.ToString(out.ETag)),
		Modified: aws.ToTime(out.LastModified),
	}
	if out.ChecksumType == "" || out.ChecksumType == types.ChecksumTypeFullObject {
		obj.SHA256 = decodeChecksum(out.ChecksumSHA256)
	}
	return obj, nil
}

// checkBucket returns an error if the store's bucket does not exist or
// cannot be reached. Success is remembered, so only the first miss of a
// store costs an extra request.
func (s *S3Store) checkBucket(ctx context.Context) error {
	if s.bucketOK.Load() {
		return nil
	}
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		var respErr *awshttp.ResponseError
		if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound {
			return fmt.Errorf("bucket %s does not exist", s.bucket)
		}
		return fmt.Errorf("check bucket %s: %w", s.bucket, err)
	}
	s.bucketOK.Store(true)
	return nil
}

// List pages through ListObjectsV2 and returns the objects under prefix,
// sorted by key. Listings carry no checksums, so SHA256 is empty; objects
// whose keys are not valid store keys (such as "dir/" folder markers made by
// other tools) are left out.
func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	root := ""
	if s.prefix != "" {
		root = s.prefix + "/"
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(root + prefix),
		MaxKeys: aws.Int32(s.pageSize),
	})
	var objs []Object
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, mapError(err))
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), root)
			if ValidateKey(key) != nil {
				continue
			}
			objs = append(objs, Object{
				Key:      key,
				Size:     aws.ToInt64(o.Size),
				ETag:     unquote(aws.ToString(o.ETag)),
				Modified: aws.ToTime(o.LastModified),
			})
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes key; a missing key is not an error.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.full(key)),
	})
	if err != nil {
		if err = mapError(err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// mapError turns S3 errors about missing keys and failed preconditions into
// ErrNotFound and ErrPreconditionFailed; others are returned as they are.
// A missing bucket is not ErrNotFound: it is a configuration error.
func mapError(err error) error {
	code := ""
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	switch {
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%w (HTTP 412 %s)", ErrPreconditionFailed, code)
	case code == "ConditionalRequestConflict":
		return fmt.Errorf("%w (HTTP %d %s: a concurrent conditional write won)", ErrPreconditionFailed, status, code)
	case code == "NoSuchKey" || (status == http.StatusNotFound && (code == "NotFound" || code == "")):
		return ErrNotFound
	}
	return err
}

// decodeChecksum turns a base64 S3 SHA-256 checksum into hex; anything else
// (absent, or a composite checksum such as "…-3") gives "".
func decodeChecksum(b64 *string) string {
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(b64))
	if err != nil || len(raw) != sha256.Size {
		return ""
	}
	return hex.EncodeToString(raw)
}

func unquote(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`)
}
