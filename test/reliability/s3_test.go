package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/layout"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/store/storage/s3test"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
)

// hookStore calls beforePut before every Put of the store it wraps; an error
// from it fails the Put.
type hookStore struct {
	storage.Store
	beforePut func(key string) error
}

func (h hookStore) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	if err := h.beforePut(key); err != nil {
		return storage.Object{}, err
	}
	return h.Store.Put(ctx, key, r, opts)
}

// s3Store opens s3://bucket/mesh on srv with cfg.
func s3Store(t *testing.T, bucket string, cfg storage.S3Config) storage.Store {
	t.Helper()
	st, err := storage.Open(t.Context(), "s3://"+bucket+"/mesh", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// publishAttempt returns the attempt number of the run's pending Publish
// activity and its last failure, or 0.
func publishAttempt(e *harness.Env, run client.WorkflowRun) (int32, string) {
	d, err := e.Temporal.DescribeWorkflowExecution(e.T.Context(), run.GetID(), run.GetRunID())
	if err != nil {
		return 0, ""
	}
	for _, a := range d.GetPendingActivities() {
		if a.GetActivityType().GetName() == refresh.ActivityPublish {
			return a.GetAttempt(), a.GetLastFailure().GetMessage()
		}
	}
	return 0, ""
}

// TestS3StoppedDuringPublish (F4): the products live on versitygw. A first
// refresh publishes 1.0.0. During the second refresh's Publish — after it
// claimed 1.1.0 by writing its manifest, as it starts copying the data — the S3
// server is stopped (SIGINT). While it is down the Publish activity fails and
// is retried, and the store on disk shows readers nothing new: latest.json
// still names 1.0.0. The server is started again on the same port and folder;
// the run resumes its own claim and publishes 1.1.0 exactly once.
func TestS3StoppedDuringPublish(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "products")
	e := newEnv(t, s3Store(t, "products", srv.Config))
	const queue = "rel-f4"
	p := harness.TinyProduct(t, t.TempDir(), "rel", "f4", queue)
	var armed atomic.Bool
	var once sync.Once
	stopped := make(chan struct{})
	dataKey := layout.VersionPrefix(p.Ref(), "1.1.0") + "/data.parquet"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{Store: hookStore{Store: e.Store, beforePut: func(key string) error {
		if key == dataKey && armed.Load() {
			once.Do(func() {
				srv.Stop(t)
				close(stopped)
			})
		}
		return nil
	}}})
	seen := watchLatest(t, e.Store, p.Ref())
	run1 := e.Start(p, "1", "ana")
	if v := e.Published(run1, time.Minute); v != "1.0.0" {
		t.Fatalf("first refresh published %s, want 1.0.0", v)
	}

	armed.Store(true)
	started := time.Now()
	harness.ChangeInput(t, p) // new rows: over the same input the run would end unchanged
	run2 := e.Start(p, "2", "ana")
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatalf("the run did not reach the copy of its data\n%s", e.Explain(run2.GetID()))
	}
	down := time.Now()
	t.Logf("S3 server stopped %s after the start, during Publish", down.Sub(started).Round(time.Millisecond))

	// While the server is down, Publish fails and is retried.
	testwait.For(t, time.Minute, "a failed Publish attempt while S3 is down", func() bool {
		n, failure := publishAttempt(e, run2)
		return n >= 2 && failure != ""
	})
	n, failure := publishAttempt(e, run2)
	t.Logf("Publish attempt %d pending while S3 is down; last failure: %s", n, failure)

	// What readers would see, read from the server's folder: the claim of 1.1.0
	// exists, latest.json still names 1.0.0, and 1.1.0 has no data yet.
	root := filepath.Join(srv.Dir, "products", "mesh", filepath.FromSlash(p.Ref()))
	b, err := os.ReadFile(filepath.Join(root, "latest.json"))
	if err != nil {
		t.Fatalf("latest.json while S3 is down: %v", err)
	}
	var l layout.Latest
	if err := json.Unmarshal(b, &l); err != nil || l.Version != "1.0.0" {
		t.Errorf("latest.json while S3 is down: %s (%v); want version 1.0.0", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "v1.1.0", "manifest.json")); err != nil {
		t.Errorf("the claim of 1.1.0 is not on disk while S3 is down (%v): the server was not stopped mid-publish", err)
	}
	if _, err := os.Stat(filepath.Join(root, "v1.1.0", "data.parquet")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("1.1.0 data exists while S3 is down (%v): the server was stopped too late", err)
	}

	srv.Restart(t)
	t.Logf("S3 server restarted after %s down", time.Since(down).Round(time.Millisecond))
	if v := e.Published(run2, 2*time.Minute); v != "1.1.0" {
		t.Fatalf("second refresh published %s, want 1.1.0", v)
	}
	t.Logf("published 1.1.0 %s after the start; latest seen %v", time.Since(started).Round(time.Millisecond), seen())
	reconcile(t, e.Store, p.Ref(), map[string]want{"1.0.0": {RunID: run1.GetRunID()}, "1.1.0": {RunID: run2.GetRunID()}})
}

// faultProxy is an HTTP proxy in front of versitygw that injects faults into
// the requests that match, one fault per matching request until none are left.
type faultProxy struct {
	URL    string
	mu     sync.Mutex
	faults []fault
	done   []string
}

// fault is one injected fault: on a request for which match holds, kind
// "corrupt" flips one byte of the response body, "reset-response" cuts the
// connection in the middle of the response body, and "reset-upload" cuts the
// connection in the middle of the request body, before the server saw it.
type fault struct {
	kind  string
	match func(r *http.Request) bool
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{URL: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.FlushInterval = -1 // a cut response has sent its headers and first bytes
	rp.ModifyResponse = func(resp *http.Response) error {
		switch resp.Request.Header.Get("X-Test-Fault") {
		case "corrupt":
			resp.Body = &corruptBody{ReadCloser: resp.Body}
		case "reset-response":
			resp.Body = &cutBody{ReadCloser: resp.Body, left: 8}
		}
		return nil
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kind := fp.take(r); kind != "" {
			if kind == "reset-upload" {
				_, _ = io.CopyN(io.Discard, r.Body, 16)
				panic(http.ErrAbortHandler) // closes the connection without a response
			}
			r.Header.Set("X-Test-Fault", kind) // not signed, seen by ModifyResponse only
		}
		rp.ServeHTTP(w, r)
	}), ErrorLog: nil}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fp
}

// add queues faults.
func (fp *faultProxy) add(fs ...fault) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.faults = append(fp.faults, fs...)
}

// take returns the kind of the first queued fault that matches r, removing it.
func (fp *faultProxy) take(r *http.Request) string {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for i, f := range fp.faults {
		if f.match(r) {
			fp.faults = append(fp.faults[:i], fp.faults[i+1:]...)
			fp.done = append(fp.done, f.kind+" "+r.Method+" "+r.URL.Path)
			return f.kind
		}
	}
	return ""
}

func (fp *faultProxy) injected() (done []string, left int) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return append([]string(nil), fp.done...), len(fp.faults)
}

// corruptBody flips the first byte it reads.
type corruptBody struct {
	io.ReadCloser
	flipped bool
}

func (c *corruptBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 && !c.flipped {
		p[0] ^= 0x55
		c.flipped = true
	}
	return n, err
}

// cutBody hands out left bytes, then fails: the proxy aborts the response.
type cutBody struct {
	io.ReadCloser
	left int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errors.New("connection cut by the test")
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= n
	return n, err
}

// TestS3CorruptAndResetDuringPublish (F6): the worker reaches versitygw
// through a proxy, and faults hit the requests that promote the staged data
// while the run publishes.
//
// With the server copying (S3's CopyObject, the store's storage.Copier), the
// proxy cuts the response of the first copy and corrupts the response of the
// next: the copies commit on the server while the worker cannot know. Publish
// retries, finds each copy with the checksum it wants, and completes.
//
// Copying through the worker (a store without Copy), the proxy cuts the
// connection in the middle of the first staged object read, corrupts one byte
// of the second, and cuts the upload of the version's data. The cut read fails
// the attempt, checksums catch the corrupt read (copyVerified and the store's
// verifying reader), the SDK resends the cut upload; Publish retries and
// completes.
//
// Either way every published object has the bytes its manifest names.
func TestS3CorruptAndResetDuringPublish(t *testing.T) {
	srv := s3test.Start(t)
	srv.Bucket(t, "products")
	for _, tc := range []struct {
		name   string
		copier bool
	}{{"server-copy", true}, {"through-the-worker", false}} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := startFaultProxy(t, srv.Config.Endpoint)
			viaProxy := srv.Config
			viaProxy.Endpoint = proxy.URL
			direct := s3Store(t, "products", srv.Config)
			e := newEnv(t, direct)
			queue := "rel-f6-" + tc.name
			p := harness.TinyProduct(t, t.TempDir(), "rel", "f6-"+tc.name, queue)
			stagedGet := func(r *http.Request) bool {
				return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/mesh/_staging/"+p.Ref()+"/") && r.URL.Query().Get("x-id") == "GetObject"
			}
			versionPut := func(r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/mesh/"+p.Ref()+"/v1.0.0/data.parquet") && r.Header.Get("X-Amz-Copy-Source") == ""
			}
			// A retry finds the objects copied before and copies the next one.
			versionCopy := func(r *http.Request) bool {
				return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/mesh/"+p.Ref()+"/v1.0.0/") && r.Header.Get("X-Amz-Copy-Source") != ""
			}
			faults := []fault{{"reset-response", stagedGet}, {"corrupt", stagedGet}, {"reset-upload", versionPut}}
			var st storage.Store = s3Store(t, "products", viaProxy)
			if tc.copier {
				faults = []fault{{"reset-response", versionCopy}, {"corrupt", versionCopy}}
			} else {
				st = withoutCopy{st}
			}
			var once sync.Once
			var mu sync.Mutex
			var attempts []string
			e.StartWorkers([]string{queue}, harness.WorkerOptions{Store: st, Publish: func(real harness.PublishFunc) harness.PublishFunc {
				return func(ctx context.Context, in refresh.PublishInput) (refresh.PublishResult, error) {
					once.Do(func() {
						// The corrupt read comes last: were it not caught, no later
						// attempt would overwrite the corrupt copy.
						proxy.add(faults...)
					})
					res, err := real(ctx, in)
					mu.Lock()
					attempts = append(attempts, errString(err))
					mu.Unlock()
					return res, err
				}
			}})
			started := time.Now()
			run := e.Start(p, "1", "ana")
			if v := e.Published(run, 2*time.Minute); v != "1.0.0" {
				t.Fatalf("published %s, want 1.0.0", v)
			}
			done, left := proxy.injected()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("published in %s; faults injected: %v; Publish attempts: %q", time.Since(started).Round(time.Millisecond), done, attempts)
			if left != 0 || len(done) != len(faults) {
				t.Fatalf("%d faults injected (%v), %d left; want all %d injected", len(done), done, left, len(faults))
			}
			if tc.copier {
				// A corrupt response may fail the attempt or leave the copy
				// unconfirmed, which Publish then checks with a HEAD.
				if len(attempts) < 2 || attempts[0] == "" || attempts[len(attempts)-1] != "" {
					t.Errorf("Publish attempts %q: want a failed attempt first, success last", attempts)
				}
			} else if len(attempts) != 3 || !strings.Contains(attempts[0], "unexpected EOF") || !strings.Contains(attempts[1], storage.ErrChecksumMismatch.Error()) || attempts[2] != "" {
				t.Errorf("Publish attempts %q: want a cut read first, a checksum mismatch next, then success", attempts)
			}
			reconcile(t, direct, p.Ref(), map[string]want{"1.0.0": {RunID: run.GetRunID()}})
		})
	}
}

// withoutCopy hides a store's Copy method: Publish copies through the worker.
type withoutCopy struct{ storage.Store }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
