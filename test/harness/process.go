package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/temporal/devproc"
)

// buildTimeout bounds the build of the meshflow command, which is slow on a
// busy machine with a cold cache.
const buildTimeout = 10 * time.Minute

// stopTimeout is how long a process has to exit after a signal.
const stopTimeout = 30 * time.Second

// BuildMeshflow builds the meshflow command into a temporary folder of the
// test and returns the binary's path.
func BuildMeshflow(t testing.TB) string {
	t.Helper()
	return build(t, t.TempDir(), "meshflow")
}

// BuildMeshflowDev builds the meshflow command and, next to it, the Temporal
// server that `meshflow dev` runs (meshflow-temporal), and returns meshflow's
// path.
func BuildMeshflowDev(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	build(t, dir, devproc.Binary)
	return build(t, dir, "meshflow")
}

// build builds the command cmd/<name> into dir and returns the binary's path.
func build(t testing.TB, dir, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/meshflow/meshflow/cmd/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	t.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	return bin
}

// Process is a command running as a child process of the test, with its
// standard output and error collected.
type Process struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

// StartProcess starts bin with args. When the test ends the process is killed
// unless it has exited, and its output is logged if the test failed.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// Pid returns the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output returns what the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// Kill kills the process with SIGKILL and waits until it is gone. It fails the
// test if the process had exited before.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("the process exited before it was killed:\n%s", p.out.String())
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill the process: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("the killed process did not exit within %s", stopTimeout)
	}
}

// Stop interrupts the process (SIGINT) and waits until it has exited, killing
// it when it has not after 30 seconds. A process that exited already is left
// as it is.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Errorf("%s did not stop within %s of SIGINT; killing it", filepath.Base(p.cmd.Path), stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// syncBuffer is a buffer that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
