package devserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/devserver"
	"github.com/meshflow/meshflow/internal/temporal/devserver/devservertest"
)

const (
	taskQueue    = "devserver-test"
	testDeadline = 2 * time.Minute
)

var meshDomain = temporal.NewSearchAttributeKeyKeyword("MeshDomain")

// greet is the trivial workflow the tests run.
func greet(_ workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

// runGreet runs greet on a worker to completion and returns its run ID.
func runGreet(ctx context.Context, t *testing.T, c client.Client, workflowID string) string {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	defer w.Stop()

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    workflowID,
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(meshDomain.ValueSet("sales-china")),
	}, greet, "mesh")
	if err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if got != "hello mesh" {
		t.Fatalf("workflow result = %q, want %q", got, "hello mesh")
	}
	return run.GetRunID()
}

// checkSearchAttributes fails the test unless the namespace has every attribute
// of want with its type.
func checkSearchAttributes(ctx context.Context, t *testing.T, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) {
	t.Helper()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("list search attributes: %v", err)
	}
	for name, typ := range want {
		if got, ok := list.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s: got %v (present %t), want %v", name, got, ok, typ)
		}
	}
}

func TestHelperRunsWorkflow(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	attrs := map[string]enumspb.IndexedValueType{
		"MeshDomain":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"MeshProduct": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
	srv, c := devservertest.Start(t, attrs)

	if srv.UIAddress() != "" {
		t.Errorf("UIAddress() = %q, want none", srv.UIAddress())
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("describe namespace %s: %v", srv.Namespace(), err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != devserver.DefaultRetention {
		t.Errorf("retention = %v, want %v", got, devserver.DefaultRetention)
	}
	checkSearchAttributes(ctx, t, c, srv.Namespace(), attrs)
	runGreet(ctx, t, c, "greet/in-memory")
}

// TestMeshSearchAttributes checks that the attributes meshflow registers are
// the ones its workflows set, each a Keyword, and that callers get their own map.
func TestMeshSearchAttributes(t *testing.T) {
	attrs := devserver.MeshSearchAttributes()
	if len(attrs) != len(refresh.SearchAttributes) {
		t.Errorf("%d attributes %v, want %v", len(attrs), attrs, refresh.SearchAttributes)
	}
	for _, a := range refresh.SearchAttributes {
		if typ, ok := attrs[a]; !ok || typ != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: got %v (present %t), want Keyword", a, typ, ok)
		}
	}
	attrs["Extra"] = enumspb.INDEXED_VALUE_TYPE_INT
	if _, ok := devserver.MeshSearchAttributes()["Extra"]; ok {
		t.Error("a caller's change shows in the next call's map")
	}
}

// firstRunEnv names the data directory of the first run of
// TestRestartKeepsHistory, which runs in a child process.
const firstRunEnv = "DEVSERVER_TEST_FIRST_RUN_DIR"

// persistedID is the ID of the workflow that must survive the restart.
const persistedID = "greet/persisted"

// restartConfig is the configuration of both runs of TestRestartKeepsHistory.
func restartConfig(t *testing.T, dataDir string) devserver.Config {
	return devserver.Config{
		DataDir:   dataDir,
		Namespace: "mesh",
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"MeshDomain":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"MeshProduct": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
		Logger: testLogger(t),
	}
}

// TestRestartKeepsHistory runs a workflow in one process, as a first `meshflow
// dev` would, and finds it in a second process on the same data directory. The
// SQLite plugin keeps its connections for the life of a process, so only a new
// process shows that the state is on disk.
func TestRestartKeepsHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	if dir := os.Getenv(firstRunEnv); dir != "" {
		firstRun(ctx, t, dir)
		return
	}

	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRestartKeepsHistory$", "-test.v")
	cmd.Env = append(os.Environ(), firstRunEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	runID, err := os.ReadFile(filepath.Join(dir, "run-id"))
	if err != nil {
		t.Fatalf("first run left no run ID: %v", err)
	}

	// Start again on the same data directory, with one more search attribute.
	cfg := restartConfig(t, dir)
	cfg.SearchAttributes["MeshStage"] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	srv, c := start(ctx, t, cfg)
	defer func() {
		c.Close()
		if err := srv.Stop(); err != nil {
			t.Errorf("stop after restart: %v", err)
		}
	}()
	checkSearchAttributes(ctx, t, c, "mesh", cfg.SearchAttributes)
	desc, err := c.DescribeWorkflowExecution(ctx, persistedID, string(runID))
	if err != nil {
		t.Fatalf("describe workflow %s after restart: %v", persistedID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if got := info.GetStatus(); got != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %v, want completed", got)
	}
	var domain string
	if err := converter.GetDefaultDataConverter().FromPayload(info.GetSearchAttributes().GetIndexedFields()["MeshDomain"], &domain); err != nil || domain != "sales-china" {
		t.Errorf("MeshDomain after restart = %q (%v), want sales-china", domain, err)
	}
}

// firstRun starts a server on dir, checks it and its web UI, runs a workflow,
// writes the run ID to dir/run-id and stops.
func firstRun(ctx context.Context, t *testing.T, dir string) {
	cfg := restartConfig(t, dir)
	srv, c := start(ctx, t, cfg)
	checkSearchAttributes(ctx, t, c, "mesh", cfg.SearchAttributes)
	runID := runGreet(ctx, t, c, persistedID)
	t.Run("web UI answers", func(t *testing.T) {
		checkUI(ctx, t, srv.UIAddress(), "mesh")
	})
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run-id"), []byte(runID), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		cfg  devserver.Config
		flag string
	}{
		{"frontend", devserver.Config{FrontendPort: port, UIPort: devserver.NoUI}, "--temporal-port"},
		{"UI", devserver.Config{UIPort: port}, "--ui-port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := devserver.Start(t.Context(), tc.cfg)
			if err == nil {
				_ = srv.Stop()
				t.Fatal("Start succeeded on a busy port")
			}
			var inUse *devserver.PortInUseError
			if !errors.As(err, &inUse) || inUse.Port != port {
				t.Fatalf("error = %v, want a PortInUseError for port %d", err, port)
			}
			for _, want := range []string{"port " + strconv.Itoa(port) + " is in use", "another `meshflow dev` or Temporal server", tc.flag} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// start starts a server as cfg says on free ports and connects a client to it.
func start(ctx context.Context, t *testing.T, cfg devserver.Config) (*devserver.Server, client.Client) {
	t.Helper()
	srv, err := devserver.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// Stop is idempotent: this covers tests that end early.
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.FrontendAddress(),
		Namespace: srv.Namespace(),
		Logger:    cfg.Logger,
	})
	if err != nil {
		_ = srv.Stop()
		t.Fatalf("connect: %v", err)
	}
	return srv, c
}

// checkUI fails the test unless the web UI at base answers "/" with its HTML page
// and relays API calls to the frontend, which knows namespace.
func checkUI(ctx context.Context, t *testing.T, base, namespace string) {
	t.Helper()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("UIAddress() = %q, want http://127.0.0.1:port", base)
	}
	if body := httpGet(ctx, t, base+"/"); !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("GET %s/ is not an HTML page: %.200q", base, body)
	}
	var desc struct {
		NamespaceInfo struct{ Name string }
	}
	body := httpGet(ctx, t, base+"/api/v1/namespaces/"+namespace)
	if err := json.Unmarshal([]byte(body), &desc); err != nil || desc.NamespaceInfo.Name != namespace {
		t.Errorf("the UI API does not describe namespace %s (%v): %.300q", namespace, err, body)
	}
}

// httpGet returns the body of url and fails the test unless it answers 200.
func httpGet(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s: %.300q", url, resp.Status, body)
	}
	return string(body)
}

// testLogger logs to the test until it ends.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, nil))
}

type testWriter struct {
	mu     sync.Mutex
	t      *testing.T
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
