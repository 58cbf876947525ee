package reliability

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshtest"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/testwait"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
)

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
// waits until its Temporal frontend answers on port. The process is stopped
// with SIGINT when the test ends, unless the test stopped it before.
func startDev(t *testing.T, bin, dataDir string, port int) *harness.Process {
	t.Helper()
	p := harness.StartProcess(t, bin, "dev", "--no-refresh", "--mesh", meshtest.Example(t), "--data-dir", dataDir,
		"--temporal-port", strconv.Itoa(port), "--ui-port", "-1", "--api=", "--metrics-listen=")
	// Cleanups run last-in first-out: this one runs before StartProcess's,
	// which kills only a process that is still running.
	t.Cleanup(func() { p.Stop(t) })
	var c client.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	err := testwait.Poll(2*time.Minute, func() error {
		select {
		case <-p.Exited():
			t.Fatalf("meshflow dev exited:\n%s", p.Output())
		default:
		}
		if c == nil {
			dialed, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Logger: harness.QuietLogger()})
			if err != nil {
				return err
			}
			c = dialed
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return err
		}
		_, err := c.WorkflowService().GetSystemInfo(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatalf("meshflow dev not ready: %v\n%s", err, p.Output())
	}
	return p
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
	bin := harness.BuildMeshflowDev(t)
	dataDir, port := t.TempDir(), freePort(t)
	dev := startDev(t, bin, dataDir, port)
	tc, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(port), Namespace: "default", Logger: harness.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e := harness.Connect(t, "reliability", harness.LocalStore(t), tc, "127.0.0.1:"+strconv.Itoa(port), "default")
	const queue = "rel-f5"
	e.StartWorkers([]string{queue}, harness.WorkerOptions{})
	p := harness.TinyProduct(t, t.TempDir(), "rel", "f5", queue)
	p.Governance = refresh.Governance{Approval: "always", Stewards: []string{"li.wei"}, Quorum: 1, Timeout: time.Hour}
	run := e.Start(p, "1", "ana")
	e.WaitStage(run.GetID(), refresh.StageAwaitingApproval, time.Minute)

	stopped := time.Now()
	dev.Stop(t)
	t.Logf("Temporal stopped while the run waits for approval (%s to stop)", time.Since(stopped).Round(time.Millisecond))
	restarted := time.Now()
	startDev(t, bin, dataDir, port)
	t.Logf("Temporal restarted on the same data folder in %s", time.Since(restarted).Round(time.Millisecond))

	// The run is still there, still waiting; the client reconnects.
	var st refresh.Status
	testwait.For(t, time.Minute, "the run's status after the restart", func() bool {
		st, err = e.Control.Status(t.Context(), run.GetID(), "")
		return err == nil
	})
	if st.Stage != refresh.StageAwaitingApproval {
		t.Fatalf("after the restart the run is at stage %q, want awaiting-approval", st.Stage)
	}
	approved := time.Now()
	if _, err := e.Control.Decide(t.Context(), p.Ref(), run.GetID(), refresh.Decision{Principal: "li.wei", Approve: true, Comment: "after the restart"}); err != nil {
		t.Fatalf("approve after the restart: %v\n%s", err, e.Explain(run.GetID()))
	}
	if v := e.Published(run, time.Minute); v != "1.0.0" {
		t.Fatalf("published %s, want 1.0.0", v)
	}
	t.Logf("published %s after the approval", time.Since(approved).Round(time.Millisecond))
	reconcile(t, e.Store, p.Ref(), map[string]want{"1.0.0": {RunID: run.GetRunID(), Approvers: []string{"li.wei"}}})
}
