package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	good := []struct{ uri, scheme, dir, prefix string }{
		{"file:///var/lib/meshflow", "file", "/var/lib/meshflow", ""},
		{"file://localhost/data/", "file", "/data", ""},
		{"/srv/store", "file", "/srv/store", ""},
		{"rel/dir", "file", filepath.Join(cwd, "rel/dir"), ""},
		{"s3://mesh-products", "s3", "mesh-products", ""},
		{"s3://mesh-products/", "s3", "mesh-products", ""},
		{"s3://mesh-products/sales-china/regional-sales/", "s3", "mesh-products", "sales-china/regional-sales"},
		{"s3://raw.china-1/orders", "s3", "raw.china-1", "orders"},
	}
	for _, c := range good {
		scheme, dir, prefix, err := ParseURI(c.uri)
		if err != nil || scheme != c.scheme || dir != c.dir || prefix != c.prefix {
			t.Errorf("ParseURI(%q) = %q, %q, %q, %v; want %q, %q, %q", c.uri, scheme, dir, prefix, err, c.scheme, c.dir, c.prefix)
		}
	}
	bad := []struct{ uri, msg string }{
		{"", "empty URI"},
		{"gs://bucket/x", `unsupported scheme "gs"`},
		{"s3://", "missing bucket"},
		{"s3://Bad_Bucket/x", "not a valid S3 bucket name"},
		{"s3://ab/x", "not a valid S3 bucket name"},
		{"s3://bucket/a/../b", `".." segment`},
		{"s3://bucket/a//b", "empty segment"},
		{"s3://bucket/x?versionId=1", "query"},
		{"file://host/dir", `host "host" is not allowed`},
		{"s3:bucket", `missing "//"`},
	}
	for _, c := range bad {
		_, _, _, err := ParseURI(c.uri)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseURI(%q) error = %v, want one containing %q", c.uri, err, c.msg)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "store")
	s, err := Open(t.Context(), "file://"+dir, S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*LocalStore); !ok || s.URI("k/v") != "file://"+dir+"/k/v" {
		t.Errorf("Open(file) = %T with URI %q", s, s.URI("k/v"))
	}
	s, err = Open(t.Context(), "s3://bucket/pre/fix/", S3Config{Endpoint: "http://127.0.0.1:1", Region: "eu-west-1", AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*S3Store); !ok || s.URI("k/v") != "s3://bucket/pre/fix/k/v" {
		t.Errorf("Open(s3) = %T with URI %q", s, s.URI("k/v"))
	}
	if _, err := Open(context.Background(), "s3://bucket", S3Config{AccessKeyID: "only-id"}); err == nil || !strings.Contains(err.Error(), "must be set together") {
		t.Errorf("half credentials: %v", err)
	}
}

func TestS3ConfigValidate(t *testing.T) {
	if err := (S3Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := S3Config{Endpoint: "localhost:9000", ChecksumMode: "always", DialTimeout: -1, MaxAttempts: -2}.Validate()
	for _, want := range []string{"endpoint", "checksumMode", "dialTimeout", "maxAttempts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %v does not mention %s", err, want)
		}
	}
	d := S3Config{}.withDefaults()
	if d.ChecksumMode != ChecksumWhenSupported || d.DialTimeout != DefaultS3DialTimeout || d.MaxAttempts != DefaultS3MaxAttempts || d.ResponseHeaderTimeout != DefaultS3ResponseHeaderTimeout || d.TempDir == "" {
		t.Errorf("defaults = %+v", d)
	}
}

func TestMapError(t *testing.T) {
	if err := mapError(errors.New("boom")); errors.Is(err, ErrNotFound) || errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("plain error mapped: %v", err)
	}
}
