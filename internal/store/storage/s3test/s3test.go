// Package s3test starts a real S3 server (versitygw) for the tests of packages
// that publish to S3. The server runs on a free loopback port over a temporary
// folder and stops when the test ends. versitygw is installed by
// scripts/install-test-tools.sh; without it the test fails and says how to
// install it, unless MESHFLOW_SKIP_S3=1 is set, which turns the failure into a
// skip.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// Install is the command that installs the server.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running versitygw.
type Server struct {
	// Config reaches the server: endpoint, path-style, static credentials.
	Config storage.S3Config
	// Dir is the server's backing folder, one subfolder per bucket.
	Dir string

	bin    string
	port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error
}

// Start starts versitygw and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := find(t)
	var lastErr error
	for range 3 { // the probed free port can be taken before versitygw binds it
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start versitygw: %v", lastErr)
	return nil
}

func find(t testing.TB) string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gp, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	msg := "versitygw is not installed; the S3 tests need a real S3 server: run `" + Install + "` (or scripts/install-test-tools.sh)"
	if os.Getenv("MESHFLOW_SKIP_S3") == "1" {
		t.Skip("MESHFLOW_SKIP_S3=1: " + msg)
	}
	t.Fatal(msg)
	return ""
}

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func start(t testing.TB, bin string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, err
	}
	s := &Server{Dir: t.TempDir(), Config: storage.S3Config{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Region: "us-east-1", PathStyle: true,
		AccessKeyID: "meshflowtest", SecretAccessKey: "meshflowtestsecret",
		ChecksumMode: storage.ChecksumWhenRequired, MaxAttempts: 3, TempDir: t.TempDir(),
	}, bin: bin, port: port}
	if err := s.launch(); err != nil {
		return nil, err
	}
	t.Cleanup(s.stop)
	return s, nil
}

// launch starts versitygw on the server's port and folder and waits until it
// answers.
func (s *Server) launch() error {
	out := &buffer{}
	cmd := exec.Command(s.bin, "--access", s.Config.AccessKeyID, "--secret", s.Config.SecretAccessKey,
		"--region", s.Config.Region, "--port", "127.0.0.1:"+strconv.Itoa(s.port), "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	probe, err := storage.OpenS3(context.Background(), "probe", "", s.Config)
	if err != nil {
		s.stop()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := probe.Client().ListBuckets(ctx, &s3.ListBucketsInput{}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr // for stop
			s.stop()
			return fmt.Errorf("versitygw exited (%v):\n%s", werr, out.String())
		case <-ctx.Done():
			s.stop()
			return fmt.Errorf("versitygw not ready after 30s: %v\n%s", err, out.String())
		case <-tick.C:
		}
	}
}

// stop interrupts the running versitygw, if any, and waits for it to exit
// (killing it after 10 seconds).
func (s *Server) stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	if cmd.Process.Signal(os.Interrupt) != nil {
		<-exited
		return
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Stop stops the server (SIGINT) and waits until it has exited; requests fail
// until Restart. Its folder is kept.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop()
}

// Restart starts a stopped server again on the same port and folder, and
// waits until it answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	for range 50 { // the port may take a moment to be free again
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restart versitygw on port %d: %v", s.port, err)
}

// Bucket creates a bucket.
func (s *Server) Bucket(t testing.TB, name string) {
	t.Helper()
	st, err := storage.OpenS3(context.Background(), name, "", s.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}
