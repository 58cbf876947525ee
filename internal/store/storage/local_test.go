package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLocalConformance(t *testing.T) {
	conformance(t, func(t *testing.T) Store {
		s, err := OpenLocal(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalLeavesNoTemporaryFiles(t *testing.T) {
	s, err := OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a/b", "1", PutOptions{IfNoneMatch: true})
	if _, err := s.Put(t.Context(), "a/b", strings.NewReader("2"), PutOptions{IfNoneMatch: true}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Put(t.Context(), "a/b", strings.NewReader("2"), PutOptions{IfMatch: "deadbeef"}); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale replace: %v", err)
	}
	if _, err := s.Put(t.Context(), "a/b", errReader{}, PutOptions{}); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(s.Root(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "b" {
		t.Errorf("directory holds %v, want only b", entries)
	}
	if err := s.Delete(t.Context(), "a/b"); err != nil {
		t.Fatal(err)
	}
	locks, err := os.ReadDir(filepath.Join(s.Root(), filepath.FromSlash(lockDir)))
	if err != nil || len(locks) != 0 {
		t.Errorf("lock files left after Delete: %v, %v", locks, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

// TestLocalCorruptionIsAnError flips a byte of a stored file behind the
// store's back, keeping its size and modification time as bit rot would: Get
// must fail instead of returning the bad data as good.
func TestLocalCorruptionIsAnError(t *testing.T) {
	s, err := OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := mustPut(t, s, "data.csv", "id,amount\n1,100\n", PutOptions{})
	p := filepath.Join(s.Root(), "data.csv")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("X"), 3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, ok := readDigestOf(t, p); !ok {
		t.Skip("no extended attributes on this file system: corruption cannot be told from a rewrite")
	}
	rc, obj, err := s.Get(t.Context(), "data.csv")
	if err != nil {
		t.Fatal(err)
	}
	if obj.ETag != put.ETag {
		t.Errorf("ETag changed to %s", obj.ETag)
	}
	_, err = io.ReadAll(rc)
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Errorf("reading a corrupt object: %v, want ErrChecksumMismatch", err)
	}
	if err := rc.Close(); err != nil {
		t.Error(err)
	}
}

func readDigestOf(t *testing.T, p string) (string, bool) {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return readDigest(f, fi)
}

// TestLocalFilesWrittenByOthers covers files placed in the root by another
// program: they have no digest record and are hashed on first read.
func TestLocalFilesWrittenByOthers(t *testing.T) {
	s, err := OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Root(), "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Root(), "in", "raw.csv"), []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj, err := s.Head(t.Context(), "in/raw.csv")
	if err != nil {
		t.Fatal(err)
	}
	if obj.SHA256 != hexSHA([]byte("a,b\n")) || obj.ETag != obj.SHA256 {
		t.Errorf("Head = %+v", obj)
	}
	if _, err := s.Put(t.Context(), "in/raw.csv", strings.NewReader("c"), PutOptions{IfMatch: obj.ETag}); err != nil {
		t.Errorf("IfMatch with the computed ETag: %v", err)
	}
}

// TestLocalCrossProcessCounter runs the compare-and-swap counter from several
// processes at once (this test binary, re-executed), so the flock-based
// locking is checked between processes and not only between goroutines.
func TestLocalCrossProcessCounter(t *testing.T) {
	if dir := os.Getenv("MESHFLOW_STORAGE_HELPER_DIR"); dir != "" {
		s, err := OpenLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(os.Getenv("MESHFLOW_STORAGE_HELPER_N"))
		for range n {
			if err := incrementCounter(t.Context(), s, "counter"); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := t.TempDir()
	s, err := OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "counter", "0", PutOptions{IfNoneMatch: true})
	const procs, each = 4, 25
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLocalCrossProcessCounter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MESHFLOW_STORAGE_HELPER_DIR="+dir, "MESHFLOW_STORAGE_HELPER_N="+strconv.Itoa(each))
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, out)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process %d: %v\n%s", i, err, outs[i])
		}
	}
	if got, _ := mustRead(t, s, "counter"); got != fmt.Sprint(procs*each) {
		t.Errorf("counter = %s after %d processes × %d increments, want %d", got, procs, each, procs*each)
	}
}

func TestLocalKeyThatIsADirectory(t *testing.T) {
	s, err := OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a/b", "1", PutOptions{})
	if _, err := s.Head(t.Context(), "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head of a directory: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(t.Context(), "a", strings.NewReader("x"), PutOptions{}); err == nil {
		t.Error("Put over a directory of keys succeeded")
	}
	if _, err := s.Put(t.Context(), "a/b/c", strings.NewReader("x"), PutOptions{}); err == nil {
		t.Error("Put below an object succeeded")
	}
	if _, err := s.Head(t.Context(), "a/b/c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head below an object: %v, want ErrNotFound", err)
	}
}
