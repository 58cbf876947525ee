// Package devservertest starts an embedded Temporal server for end-to-end tests of
// other packages: StartMesh with the search attributes meshflow's workflows need,
// Start with custom ones.
//
// Linking the Temporal server makes a test binary slow to build: use this package
// only in the few packages that test against a real server.
package devservertest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/meshflow/meshflow/internal/temporal/devserver"
)

// startTimeout bounds the start of the server.
const startTimeout = 2 * time.Minute

// StartMesh starts a server as Start does, with the search attributes
// meshflow's workflows need (devserver.MeshSearchAttributes).
func StartMesh(t testing.TB) (*devserver.Server, client.Client) {
	t.Helper()
	return Start(t, devserver.MeshSearchAttributes())
}

// Start starts an in-memory Temporal server without the Web UI on a free port,
// registers searchAttributes (none when nil) on its namespace and returns the
// server and a client of that namespace. Both are closed when the test ends.
// Server logs at warning level and above go to the test log.
func Start(t testing.TB, searchAttributes map[string]enumspb.IndexedValueType) (*devserver.Server, client.Client) {
	t.Helper()
	logs := &testWriter{t: t}
	// Cleanups run last-in first-out: the test log closes after the server stopped.
	t.Cleanup(logs.close)

	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{
		UIPort:           devserver.NoUI,
		SearchAttributes: searchAttributes,
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("start Temporal dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop Temporal dev server: %v", err)
		}
	})

	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("connect to Temporal dev server at %s: %v", srv.FrontendAddress(), err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

// testWriter writes log lines to the test log until the test ends. Server
// goroutines may still log after that, when writing to the test log would panic.
type testWriter struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
