package reliability

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"go.temporal.io/sdk/client"
)

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devProcess is `meshflow dev` running as a child process: a Temporal server
// whose state is in a SQLite file under its data folder.
type devProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDev starts `meshflow dev` without refreshes, web pages or metrics, and
// waits until its Temporal frontend answers on port.
func startDev(t *testing.T, bin, dataDir string, port int) *devProcess {
	t.Helper()
	mesh, err := filepath.Abs(filepath.Join("..", "..", "examples", "mesh"))
	if err != nil {
		t.Fatal(err)
	}
	p := &devProcess{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "dev", "--no-refresh", "--mesh", mesh, "--data-dir", dataDir,
		"--temporal-port", strconv.Itoa(port), "--ui-port", "-1", "--api=", "--metrics-listen=")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start meshflow dev: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("meshflow dev output:\n%s", p.out.String())
		}
	})
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: quietLogger()})
	if err == nil {
		defer c.Close()
	}
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c == nil {
			c, err = client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: quietLogger()})
			if err == nil {
				defer c.Close()
			}
		}
		if c != nil {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.WorkflowService().GetSystemInfo(ctx, nil)
			}
			cancel()
			if err == nil {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("meshflow dev exited:\n%s", p.out.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("meshflow dev not ready after 2 minutes: %v\n%s", err, p.out.String())
		}
	}
}

// stop interrupts the process and waits until it has exited (killing it after
// 30 seconds).
func (p *devProcess) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Errorf("meshflow dev did not stop within 30s of SIGINT; killing it")
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// TestTemporalRestartsWhileAwaitingApproval (F5): the Temporal server is the
// real `meshflow dev` in a subprocess, with its SQLite state on disk. A run
// waits for a steward's approval; the server is stopped (SIGINT) and started
// again on the same data folder and port. The in-process worker and client
// reconnect, the steward approves, and the run publishes exactly one version
// with the approval recorded.
func TestTemporalRestartsWhileAwaitingApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds cmd/meshflow and runs a Temporal server in a subprocess")
	}
	bin := buildMeshflow(t)
	dataDir, port := t.TempDir(), freePort(t)
	dev := startDev(t, bin, dataDir, port)
	tc, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e := withMesh(&env{t: t, addr: "127.0.0.1:" + strconv.Itoa(port), tc: tc, ctl: &control.Client{Temporal: tc, Namespace: "default"}, store: localStore(t)})
	const queue = "rel-f5"
	e.startWorker(queue, workerOpts{})
	p := tinyProduct(t, t.TempDir(), "rel", "f5", queue)
	p.Governance = refresh.Governance{Approval: "always", Stewards: []string{"li.wei"}, Quorum: 1, Timeout: time.Hour}
	run := e.start(p, "1", "ana")
	waitFor(t, time.Minute, "the run to wait for approval", func() bool {
		st, err := e.ctl.Status(t.Context(), run.GetID(), "")
		return err == nil && st.Stage == refresh.StageAwaitingApproval
	})

	stopped := time.Now()
	dev.stop(t)
	t.Logf("Temporal stopped while the run waits for approval (%s to stop)", time.Since(stopped).Round(time.Millisecond))
	restarted := time.Now()
	startDev(t, bin, dataDir, port)
	t.Logf("Temporal restarted on the same data folder in %s", time.Since(restarted).Round(time.Millisecond))

	// The run is still there, still waiting; the client reconnects.
	var st refresh.Status
	waitFor(t, time.Minute, "the run's status after the restart", func() bool {
		st, err = e.ctl.Status(t.Context(), run.GetID(), "")
		return err == nil
	})
	if st.Stage != refresh.StageAwaitingApproval {
		t.Fatalf("after the restart the run is at stage %q, want awaiting-approval", st.Stage)
	}
	approved := time.Now()
	if _, err := e.ctl.Decide(t.Context(), p.Ref(), run.GetID(), refresh.Decision{Principal: "li.wei", Approve: true, Comment: "after the restart"}); err != nil {
		t.Fatalf("approve after the restart: %v\n%s", err, e.explain(run))
	}
	if v := e.published(run, time.Minute); v != "1.0.0" {
		t.Fatalf("published %s, want 1.0.0", v)
	}
	t.Logf("published %s after the approval", time.Since(approved).Round(time.Millisecond))
	reconcile(t, e.store, p.Ref(), map[string]want{"1.0.0": {RunID: run.GetRunID(), Approvers: []string{"li.wei"}}})
}

// buildMeshflow builds cmd/meshflow into a temporary folder.
func buildMeshflow(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshflow")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/meshflow").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/meshflow: %v\n%s", err, out)
	}
	t.Logf("built meshflow in %s", time.Since(start).Round(time.Millisecond))
	return bin
}
