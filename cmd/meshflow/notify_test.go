package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/meshflow/meshflow/activities"
	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/mesh/meshrev/meshrevtest"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// lockedBuffer is a log sink that the sender's goroutine may write to while
// the test reads it.
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

// TestWorkerWarnsOfEmailWithoutSMTP: a mesh that routes e-mail, on a worker
// without MESHFLOW_SMTP_ADDR, gets a warning at start that says what to set;
// --no-notify leaves the activities' notifications off.
func TestWorkerWarnsOfEmailWithoutSMTP(t *testing.T) {
	t.Setenv("MESHFLOW_SMTP_ADDR", "")
	// The sender nf.start runs may still write its lease while the test ends,
	// after its context is cancelled; t.TempDir's cleanup would then fail on a
	// folder that is not empty. The folder is removed best effort instead.
	dir, err := os.MkdirTemp("", "meshflow-notify-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	st, err := storage.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	meshrevtest.New(t, st).Publish(t, meshrev.Revision{Notifications: []spec.Notification{
		{Name: "board-mail", Email: []string{"maria.rossi@acme.example"}, Events: []string{spec.EventExpired}},
		{Name: "hook", Webhook: "https://hooks.example.com/x", Events: []string{spec.EventFailed}},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	acts := &activities.Activities{Store: st}
	var nf notifyFlags
	nf.start(ctx, st, acts, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)))
	if !acts.Notify {
		t.Error("the activities leave no notifications")
	}
	out := logs.String()
	if !strings.Contains(out, "MESHFLOW_SMTP_ADDR") || !strings.Contains(out, "notification=board-mail") || strings.Contains(out, "notification=hook") {
		t.Errorf("start logged:\n%s\nwant one warning about board-mail naming MESHFLOW_SMTP_ADDR", out)
	}

	off := &activities.Activities{Store: st}
	nf = notifyFlags{off: true}
	nf.start(ctx, st, off, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if off.Notify {
		t.Error("--no-notify: the activities leave notifications")
	}
}
