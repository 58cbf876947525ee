package storage

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const versitygwInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// versityGW is a versitygw S3 server running for one test, on a free
// loopback port, over a temporary posix directory.
type versityGW struct {
	endpoint string
	dir      string // posix backend root: one subdirectory per bucket
	cfg      S3Config
}

// findVersityGW returns the versitygw binary from PATH, $GOBIN or
// $GOPATH/bin. A missing binary fails the test unless MESHFLOW_SKIP_S3=1.
func findVersityGW(t *testing.T) string {
	t.Helper()
	candidates := []string{}
	if p, err := exec.LookPath("versitygw"); err == nil {
		candidates = append(candidates, p)
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "versitygw"))
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		candidates = append(candidates, filepath.Join(gp, "bin", "versitygw"))
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	msg := "versitygw is not on PATH nor in $(go env GOPATH)/bin; the S3 tests need a real S3 server: run `" +
		versitygwInstall + "` (or scripts/install-test-tools.sh)"
	if os.Getenv("MESHFLOW_SKIP_S3") == "1" {
		t.Skip("MESHFLOW_SKIP_S3=1: " + msg)
	}
	t.Fatal(msg)
	return ""
}

// checkVersityGWVersion fails the test for versitygw older than v1.8.0, whose
// conditional writes let several writers win.
func checkVersityGWVersion(t *testing.T, bin string) {
	t.Helper()
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Logf("cannot read the build info of %s (%v); assuming it is recent enough", bin, err)
		return
	}
	v := info.Main.Version
	var major, minor int
	if _, err := fmt.Sscanf(v, "v%d.%d.", &major, &minor); err != nil {
		t.Logf("versitygw version %q is not a release; assuming it is recent enough", v)
		return
	}
	if major < 1 || (major == 1 && minor < 8) {
		t.Fatalf("%s is versitygw %s; conditional writes need v1.8.0 or later: run `%s`", bin, v, versitygwInstall)
	}
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// startVersityGW starts versitygw and waits until it answers S3 requests. The
// server is stopped when the test ends.
func startVersityGW(t *testing.T) *versityGW {
	t.Helper()
	bin := findVersityGW(t)
	checkVersityGWVersion(t, bin)
	dir := t.TempDir()
	var lastErr error
	// The free port may be taken between our probe and versitygw's bind;
	// then the server exits at once and we try another port.
	for range 3 {
		gw, err := tryStartVersityGW(t, bin, dir)
		if err == nil {
			return gw
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func tryStartVersityGW(t *testing.T, bin, dir string) (*versityGW, error) {
	port := freePort(t)
	gw := &versityGW{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		dir:      dir,
		cfg: S3Config{
			Region:          "us-east-1",
			PathStyle:       true,
			AccessKeyID:     "meshflowtest",
			SecretAccessKey: "meshflowtestsecret",
			ChecksumMode:    ChecksumWhenRequired,
			MaxAttempts:     3,
			TempDir:         t.TempDir(),
		},
	}
	gw.cfg.Endpoint = gw.endpoint
	out := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--access", gw.cfg.AccessKeyID, "--secret", gw.cfg.SecretAccessKey,
		"--region", gw.cfg.Region, "--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet",
		"posix", dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return // already gone
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // it ignored the interrupt
			<-exited
		}
	}

	// Poll until the server answers a signed request; give up if it exits.
	probe, err := OpenS3(t.Context(), "probe", "", gw.cfg)
	if err != nil {
		stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := probe.Client().ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			t.Cleanup(stop)
			return gw, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("versitygw exited (%v):\n%s", werr, out.String())
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("versitygw not ready after 30s: %v\n%s", err, out.String())
		case <-tick.C:
		}
	}
}

// store creates bucket and returns the store for prefix in it.
func (gw *versityGW) store(t *testing.T, bucket, prefix string) *S3Store {
	t.Helper()
	s, err := OpenS3(t.Context(), bucket, prefix, gw.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	return s
}

func TestS3Conformance(t *testing.T) {
	gw := startVersityGW(t)
	var n atomic.Int32
	conformance(t, func(t *testing.T) Store {
		i := n.Add(1)
		prefix := ""
		if i%2 == 0 {
			prefix = "mesh/root" // odd stores use the bucket's root, even ones a prefix
		}
		s := gw.store(t, fmt.Sprintf("conformance-%d", i), prefix)
		s.pageSize = 5 // exercise pagination with few keys
		return s
	})
}

// TestS3CorruptionIsAnError damages an object in versitygw's backing
// directory, keeping its size: the stored checksum no longer matches, and Get
// must fail instead of returning the bad data as good.
func TestS3CorruptionIsAnError(t *testing.T) {
	gw := startVersityGW(t)
	s := gw.store(t, "corrupt", "p")
	content := strings.Repeat("id,amount\n1,100\n", 1000)
	mustPut(t, s, "data.csv", content, PutOptions{})
	head, err := s.Head(t.Context(), "data.csv")
	if err != nil {
		t.Fatal(err)
	}
	if head.SHA256 != hexSHA([]byte(content)) {
		t.Fatalf("Head SHA256 = %q, want the content's", head.SHA256)
	}
	p := filepath.Join(gw.dir, "corrupt", "p", "data.csv")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(t.Context(), "data.csv")
	if err == nil {
		_, err = io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
	}
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("reading a corrupt object: %v, want ErrChecksumMismatch", err)
	}
}

// flakyTransport forwards requests but, for the first conditional PutObject,
// throws the server's response away and reports a reset connection: the
// write committed, yet the client cannot know.
type flakyTransport struct {
	next    http.RoundTripper
	dropped atomic.Bool
}

func (f *flakyTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := f.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && req.Header.Get("If-None-Match") != "" && f.dropped.CompareAndSwap(false, true) {
		_ = resp.Body.Close()
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return resp, err
}

// TestS3ConditionalPutLostResponse checks that a create whose response was
// lost, and whose retry then finds the key, still reports success when the
// key holds exactly the bytes it wrote, and failure when it holds others.
func TestS3ConditionalPutLostResponse(t *testing.T) {
	gw := startVersityGW(t)
	s := gw.store(t, "lost-response", "")
	flaky := &flakyTransport{next: http.DefaultTransport}
	s.client = s3.New(s.client.Options(), func(o *s3.Options) { o.HTTPClient = flaky })

	obj, err := s.Put(t.Context(), "latest", strings.NewReader("v1"), PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("create with a lost response: %v", err)
	}
	if !flaky.dropped.Load() {
		t.Fatal("the transport did not drop a response")
	}
	if got, cur := mustRead(t, s, "latest"); got != "v1" || cur.ETag != obj.ETag {
		t.Errorf("stored %q %s, Put reported %s", got, cur.ETag, obj.ETag)
	}
	if _, err := s.Put(t.Context(), "latest", strings.NewReader("v2"), PutOptions{IfNoneMatch: true}); !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("create of an existing key: %v, want ErrPreconditionFailed", err)
	}
}

func TestS3MissingBucketIsNotNotFound(t *testing.T) {
	gw := startVersityGW(t)
	s, err := OpenS3(t.Context(), "no-such-bucket", "", gw.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(t.Context(), "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Head in a missing bucket: %v, want an error other than ErrNotFound", err)
	}
	if _, _, err := s.Get(t.Context(), "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get in a missing bucket: %v, want an error other than ErrNotFound", err)
	}
}

// TestS3DefaultChecksumMode runs a round trip with the SDK's default checksum
// behaviour (ChecksumWhenSupported) instead of the tests' "when_required".
func TestS3DefaultChecksumMode(t *testing.T) {
	gw := startVersityGW(t)
	gw.cfg.ChecksumMode = ""
	s := gw.store(t, "default-checksums", "p")
	v1 := mustPut(t, s, "latest", "v1", PutOptions{IfNoneMatch: true})
	mustPut(t, s, "latest", "v2", PutOptions{IfMatch: v1.ETag})
	if got, obj := mustRead(t, s, "latest"); got != "v2" || obj.SHA256 != hexSHA([]byte("v2")) {
		t.Errorf("Get = %q %+v", got, obj)
	}
	if _, err := s.Put(t.Context(), "stream", onlyReader{strings.NewReader("streamed")}, PutOptions{}); err != nil {
		t.Errorf("Put from a stream: %v", err)
	}
}

// TestS3Copy copies inside versitygw: the copy holds the bytes, a copy whose
// checksum is not the one wanted is refused and removed, and a source damaged
// at rest is caught by the server's checksum of the copy, never published.
func TestS3Copy(t *testing.T) {
	gw := startVersityGW(t)
	s := gw.store(t, "copy", "p")
	content := strings.Repeat("id,amount\n1,100\n", 1000)
	src := "staging/run 1/data 100%.csv"
	mustPut(t, s, src, content, PutOptions{})
	want := Object{Size: int64(len(content)), SHA256: hexSHA([]byte(content))}

	got, err := s.Copy(t.Context(), src, "v/1.0.0/data.csv", want)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != want.SHA256 || got.Size != want.Size {
		t.Fatalf("copy = %+v, want %+v", got, want)
	}
	rc, _, err := s.Get(t.Context(), "v/1.0.0/data.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(body) != content {
		t.Fatalf("the copy reads %d bytes, %v; want the source's %d", len(body), err, len(content))
	}

	wrong := want
	wrong.SHA256 = hexSHA([]byte("something else"))
	if _, err := s.Copy(t.Context(), src, "v/1.1.0/data.csv", wrong); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("copy with another checksum wanted: %v, want ErrChecksumMismatch", err)
	}
	if _, err := s.Head(t.Context(), "v/1.1.0/data.csv"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused copy is still there: %v", err)
	}

	f, err := os.OpenFile(filepath.Join(gw.dir, "copy", "p", "staging", "run 1", "data 100%.csv"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 100); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(t.Context(), src, "v/1.2.0/data.csv", want); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("copying a source damaged at rest: %v, want ErrChecksumMismatch", err)
	}
	if _, err := s.Head(t.Context(), "v/1.2.0/data.csv"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the damaged copy is still there: %v", err)
	}
}
