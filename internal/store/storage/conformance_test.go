package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// conformance runs the behaviour every Store must have. newStore returns an
// empty store of the implementation under test.
func conformance(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("PutGetHeadListDelete", func(t *testing.T) { testBasic(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("IfNoneMatchRace", func(t *testing.T) { testIfNoneMatchRace(t, newStore(t)) })
	t.Run("IfMatchCompareAndSwap", func(t *testing.T) { testIfMatch(t, newStore(t)) })
	t.Run("IfMatchCounter", func(t *testing.T) { testCounter(t, newStore(t), 6, 5) })
	t.Run("KeyValidation", func(t *testing.T) { testKeyValidation(t, newStore(t)) })
	t.Run("ListPrefixes", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("LargeObject", func(t *testing.T) { testLarge(t, newStore(t)) })
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mustPut(t *testing.T, s Store, key, content string, opts PutOptions) Object {
	t.Helper()
	obj, err := s.Put(t.Context(), key, strings.NewReader(content), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

func mustRead(t *testing.T, s Store, key string) (string, Object) {
	t.Helper()
	rc, obj, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("close %q: %v", key, err)
	}
	return string(b), obj
}

// onlyReader hides every method but Read, so stores must treat it as a stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func testBasic(t *testing.T, s Store) {
	ctx := t.Context()
	content := "hello, mesh\n"
	before := time.Now().Add(-2 * time.Second)
	put := mustPut(t, s, "staging/run-1/orders.csv", content, PutOptions{ContentType: "text/csv"})
	if put.Key != "staging/run-1/orders.csv" || put.Size != int64(len(content)) || put.SHA256 != hexSHA([]byte(content)) || put.ETag == "" {
		t.Fatalf("Put returned %+v", put)
	}
	if put.Modified.Before(before) || put.Modified.After(time.Now().Add(2*time.Second)) {
		t.Errorf("Put Modified = %v, want about now", put.Modified)
	}

	got, obj := mustRead(t, s, "staging/run-1/orders.csv")
	if got != content {
		t.Errorf("Get content = %q, want %q", got, content)
	}
	if obj.ETag != put.ETag || obj.Size != put.Size || obj.SHA256 != put.SHA256 {
		t.Errorf("Get object = %+v, want %+v", obj, put)
	}
	head, err := s.Head(ctx, "staging/run-1/orders.csv")
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.ETag != put.ETag || head.Size != put.Size || head.SHA256 != put.SHA256 || head.Key != put.Key {
		t.Errorf("Head = %+v, want %+v", head, put)
	}

	// Overwrite without conditions; the ETag changes with the content.
	put2 := mustPut(t, s, "staging/run-1/orders.csv", "other", PutOptions{})
	if put2.ETag == put.ETag {
		t.Errorf("ETag did not change on overwrite: %s", put2.ETag)
	}
	// The same content read from a stream gives the same digest.
	put3, err := s.Put(ctx, "staging/run-1/stream", onlyReader{strings.NewReader("other")}, PutOptions{})
	if err != nil || put3.SHA256 != put2.SHA256 || put3.Size != 5 {
		t.Fatalf("Put from stream = %+v, %v", put3, err)
	}
	// An empty object is an object.
	empty := mustPut(t, s, "empty", "", PutOptions{})
	if got, _ := mustRead(t, s, "empty"); got != "" || empty.Size != 0 {
		t.Errorf("empty object: %q, %+v", got, empty)
	}

	objs, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if keys := objKeys(objs); keys != "empty staging/run-1/orders.csv staging/run-1/stream" {
		t.Errorf("List keys = %s", keys)
	}
	for _, o := range objs {
		if o.Key == "staging/run-1/orders.csv" && (o.ETag != put2.ETag || o.Size != 5) {
			t.Errorf("List entry = %+v, want ETag %s size 5", o, put2.ETag)
		}
	}

	if err := s.Delete(ctx, "staging/run-1/orders.csv"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Head(ctx, "staging/run-1/orders.csv"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "staging/run-1/orders.csv"); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
	if u := s.URI("a/b.parquet"); !strings.HasSuffix(u, "/a/b.parquet") || !(strings.HasPrefix(u, "file:///") || strings.HasPrefix(u, "s3://")) {
		t.Errorf("URI = %q", u)
	}
}

func objKeys(objs []Object) string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return strings.Join(keys, " ")
}

func testNotFound(t *testing.T, s Store) {
	ctx := t.Context()
	if _, _, err := s.Get(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head missing: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing/key"); err != nil {
		t.Errorf("Delete missing: %v, want nil", err)
	}
	objs, err := s.List(ctx, "missing/")
	if err != nil || len(objs) != 0 {
		t.Errorf("List missing prefix = %v, %v; want empty", objs, err)
	}
	_, err = s.Put(ctx, "missing/key", strings.NewReader("x"), PutOptions{IfMatch: "0123abcd"})
	if !errors.Is(err, ErrPreconditionFailed) || !errors.Is(err, ErrNotFound) {
		t.Errorf("Put IfMatch on missing key: %v, want ErrPreconditionFailed and ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "missing/key"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed IfMatch created the key: %v", err)
	}
}

func testIfNoneMatchRace(t *testing.T, s Store) {
	ctx := t.Context()
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
		errs    []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.Put(ctx, "products/sales/latest", strings.NewReader("writer-"+strconv.Itoa(i)), PutOptions{IfNoneMatch: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, i)
			case !errors.Is(err, ErrPreconditionFailed):
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(winners) != 1 {
		t.Fatalf("%d writers won (%v), want exactly 1", len(winners), winners)
	}
	if got, _ := mustRead(t, s, "products/sales/latest"); got != "writer-"+strconv.Itoa(winners[0]) {
		t.Errorf("content = %q, want the winner's (writer-%d)", got, winners[0])
	}
	_, err := s.Put(ctx, "products/sales/latest", strings.NewReader("writer-0"), PutOptions{IfNoneMatch: true})
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Errorf("IfNoneMatch on existing key: %v, want ErrPreconditionFailed", err)
	}
}

func testIfMatch(t *testing.T, s Store) {
	ctx := t.Context()
	v1 := mustPut(t, s, "latest", "v1", PutOptions{IfNoneMatch: true})
	v2 := mustPut(t, s, "latest", "v2", PutOptions{IfMatch: v1.ETag})
	if v2.ETag == v1.ETag {
		t.Fatalf("ETag unchanged after replace")
	}
	_, err := s.Put(ctx, "latest", strings.NewReader("v3"), PutOptions{IfMatch: v1.ETag})
	if !errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrNotFound) {
		t.Errorf("stale IfMatch: %v, want only ErrPreconditionFailed", err)
	}
	if got, obj := mustRead(t, s, "latest"); got != "v2" || obj.ETag != v2.ETag {
		t.Errorf("after stale write: %q %s, want v2 %s", got, obj.ETag, v2.ETag)
	}
	// A quoted ETag, as HTTP spells it, is accepted too.
	v3 := mustPut(t, s, "latest", "v3", PutOptions{IfMatch: `"` + v2.ETag + `"`})
	if _, err := s.Put(ctx, "latest", strings.NewReader("x"), PutOptions{IfMatch: v3.ETag, IfNoneMatch: true}); err == nil {
		t.Errorf("IfMatch with IfNoneMatch accepted")
	}

	// N writers holding the same ETag: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range n {
		wg.Go(func() {
			_, err := s.Put(ctx, "latest", strings.NewReader(fmt.Sprintf("v4-%d", i)), PutOptions{IfMatch: v3.ETag})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, ErrPreconditionFailed) {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d compare-and-swap writers won, want exactly 1", wins)
	}
}

// testCounter increments a counter object with read-modify-write loops from
// several goroutines: with a correct compare-and-swap no increment is lost.
func testCounter(t *testing.T, s Store, workers, increments int) {
	mustPut(t, s, "counter", "0", PutOptions{IfNoneMatch: true})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range increments {
				if err := incrementCounter(t.Context(), s, "counter"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got, _ := mustRead(t, s, "counter"); got != strconv.Itoa(workers*increments) {
		t.Errorf("counter = %s, want %d", got, workers*increments)
	}
}

func incrementCounter(ctx context.Context, s Store, key string) error {
	for {
		rc, obj, err := s.Get(ctx, key)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return fmt.Errorf("counter %q: %w", b, err)
		}
		_, err = s.Put(ctx, key, strings.NewReader(strconv.Itoa(n+1)), PutOptions{IfMatch: obj.ETag})
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrPreconditionFailed) {
			return err
		}
	}
}

func testKeyValidation(t *testing.T, s Store) {
	ctx := t.Context()
	bad := []string{"", "/abs", "../escape", "a/../../b", "a/./b", "a//b", "a/", `a\b`, `..\..\x`, "a/\x00", ".meshflow/locks/x", "a/.meshflow-tmp-1", strings.Repeat("k", 1025), "bad\xffutf8"}
	for _, key := range bad {
		if _, err := s.Put(ctx, key, strings.NewReader("x"), PutOptions{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Get(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Head(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Head(%q): %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/", "../", "a//", `a\`} {
		if _, err := s.List(ctx, prefix); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("List(%q): %v, want ErrInvalidKey", prefix, err)
		}
	}
	// Unusual but valid keys round-trip.
	for _, key := range []string{"a b/c+d=e.txt", "ünïcode/ключ", "..dots/x..", "a-b_c~d"} {
		mustPut(t, s, key, key, PutOptions{})
		if got, _ := mustRead(t, s, key); got != key {
			t.Errorf("Get(%q) = %q", key, got)
		}
	}
}

func testList(t *testing.T, s Store) {
	ctx := t.Context()
	var want []string
	for i := range 23 {
		key := fmt.Sprintf("runs/r1/part-%03d", i)
		want = append(want, key)
		mustPut(t, s, key, key, PutOptions{})
	}
	for _, key := range []string{"runs/r10/x", "runs/r1-extra", "runs/r1x/y", "other/z", "runs/r1/deep/er/k"} {
		mustPut(t, s, key, key, PutOptions{})
	}
	want = append(want, "runs/r1/deep/er/k")
	sortStrings(want)
	objs, err := s.List(ctx, "runs/r1/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if got := objKeys(objs); got != strings.Join(want, " ") {
		t.Errorf("List(runs/r1/) =\n%s\nwant\n%s", got, strings.Join(want, " "))
	}
	objs, err = s.List(ctx, "runs/r1")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	// A prefix that stops inside a segment matches by string prefix, as in
	// S3, and the result is sorted by key ("-" sorts before "/").
	if len(objs) != len(want)+3 || objs[0].Key != "runs/r1-extra" || objs[len(objs)-1].Key != "runs/r1x/y" {
		t.Errorf("List(runs/r1) = %s", objKeys(objs))
	}
	for _, o := range objs {
		if o.Size != int64(len(o.Key)) || o.ETag == "" {
			t.Errorf("List entry %+v: want size %d and an ETag", o, len(o.Key))
		}
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// testLarge streams 20 MiB through a reader that is not seekable, so neither
// the data nor a copy of it is ever held in memory by the test.
func testLarge(t *testing.T, s Store) {
	const size = 20 << 20
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size), h)
	obj, err := s.Put(t.Context(), "large/blob.bin", onlyReader{src}, PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	if obj.Size != size || obj.SHA256 != want {
		t.Fatalf("Put = %+v, want size %d sha256 %s", obj, size, want)
	}
	rc, got, err := s.Get(t.Context(), "large/blob.bin")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer func() {
		if err := rc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	h2 := sha256.New()
	n, err := io.Copy(h2, rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if n != size || hex.EncodeToString(h2.Sum(nil)) != want || got.SHA256 != want {
		t.Errorf("Get returned %d bytes, sha256 %x, object %+v", n, h2.Sum(nil), got)
	}
}
