package storage

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestS3ConfigValidateSSE(t *testing.T) {
	for _, ok := range []S3Config{{SSE: SSEKMS}, {SSE: SSEKMS, KMSKeyID: "alias/meshflow"}, {SSE: SSES3}, {}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for cfg, want := range map[S3Config]string{
		{SSE: "aws:kms:dsse"}:                   `sse "aws:kms:dsse"`,
		{SSE: "aes256"}:                         `sse "aes256"`,
		{SSE: SSES3, KMSKeyID: "alias/x"}:       "kmsKeyID needs sse",
		{KMSKeyID: "arn:aws:kms:eu-west-1:1:k"}: "kmsKeyID needs sse",
	} {
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: error %v, want one with %q", cfg, err, want)
		}
	}
}

// TestS3PutSendsSSE checks the encryption headers of every upload against a
// fake S3 endpoint that records them (S3-compatible test servers may ignore SSE).
func TestS3PutSendsSSE(t *testing.T) {
	type seen struct{ sse, kms string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPut {
			http.Error(w, "unexpected "+r.Method, http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		got = append(got, seen{r.Header.Get("X-Amz-Server-Side-Encryption"), r.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")})
		mu.Unlock()
		w.Header().Set("ETag", `"0123456789abcdef"`)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx := context.Background()
	base := S3Config{Endpoint: srv.URL, PathStyle: true, Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test", ChecksumMode: ChecksumWhenRequired, MaxAttempts: 1}
	cases := []struct {
		sse, kms string
		ifNone   bool
	}{
		{SSEKMS, "alias/meshflow-published", false},
		{SSEKMS, "", true}, // conditional puts (latest.json) are encrypted too
		{SSES3, "", false},
		{"", "", false},
	}
	for _, c := range cases {
		cfg := base
		cfg.SSE, cfg.KMSKeyID = c.sse, c.kms
		st, err := OpenS3(ctx, "bucket", "mesh", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(ctx, "finance/fx-rates/latest.json", strings.NewReader("{}"), PutOptions{IfNoneMatch: c.ifNone}); err != nil {
			t.Fatalf("put with sse %q: %v", c.sse, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(cases) {
		t.Fatalf("%d puts reached the server, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		if got[i].sse != c.sse || got[i].kms != c.kms {
			t.Errorf("put %d: headers sse %q kms %q, want %q %q", i, got[i].sse, got[i].kms, c.sse, c.kms)
		}
	}
}
