// Package devproc runs the Temporal development server, cmd/meshflow-temporal,
// as a child process of `meshflow dev`.
//
// The server (go.temporal.io/server and the Web UI) is a large program: linked
// into meshflow's own binary it made every command, even `meshflow diff`, load
// and initialise it, about 110 MiB of memory and tens of milliseconds before the
// first line of meshflow's code ran. Kept in a binary of its own, it costs only
// `meshflow dev`, which starts it, waits for it to say it is ready and stops it
// when it stops.
//
// The child reports readiness as one JSON line (Ready) on the pipe it gets as
// file descriptor 3, and it stops when its standard input closes, which is also
// what happens when its parent dies: no signals, no polling.
package devproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Binary is the name of the Temporal development server's executable.
const Binary = "meshflow-temporal"

// Defaults of the server's flags, shared by meshflow dev and meshflow-temporal.
const (
	DefaultHost         = "127.0.0.1"
	DefaultFrontendPort = 7233
	DefaultUIPort       = 8233
	DefaultNamespace    = "default"
	// NoUI as a UI port runs the server without the Web UI.
	NoUI = -1
)

// ReadyFD is the file descriptor on which a supervised meshflow-temporal writes
// its Ready line.
const ReadyFD = 3

// Ready is what the server reports once its frontend answers and its namespace
// and search attributes are registered.
type Ready struct {
	// Frontend is the host:port that Temporal clients dial.
	Frontend string `json:"frontend"`
	// UI is the Web UI's base URL, or "" without the UI.
	UI string `json:"ui,omitempty"`
	// Namespace is the namespace registered at start.
	Namespace string `json:"namespace"`
}

// Config says which server to run and how.
type Config struct {
	// Bin is the meshflow-temporal executable (see Find).
	Bin string
	// DataDir holds the server's SQLite state.
	DataDir string
	// Host, FrontendPort and UIPort are where it listens; UIPort NoUI runs
	// without the Web UI.
	Host         string
	FrontendPort int
	UIPort       int
	// Verbose passes -v: the server logs more.
	Verbose bool
	// Log receives the server's own output (its warnings and errors). Nil
	// discards it; the last lines are kept for errors either way.
	Log io.Writer
}

// Process is a running meshflow-temporal.
type Process struct {
	ready Ready
	cmd   *exec.Cmd
	stdin io.Closer
	tail  *tail
	done  chan struct{}
	err   error // of cmd.Wait, set before done closes

	stopOnce sync.Once
	stopErr  error
}

// Start runs cfg.Bin and returns once the server reports that it is ready, or
// an error with the last lines of its output when it exits first. ctx bounds
// only the wait; the server runs until Stop.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	readR, readW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", Binary, err)
	}
	defer readR.Close()
	t := &tail{}
	out := io.Writer(t)
	if cfg.Log != nil {
		out = io.MultiWriter(t, cfg.Log)
	}
	args := []string{"--supervised", "--data-dir", cfg.DataDir, "--host", cfg.Host,
		"--frontend-port", strconv.Itoa(cfg.FrontendPort), "--ui-port", strconv.Itoa(cfg.UIPort)}
	if cfg.Verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(cfg.Bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{readW} // file descriptor 3 (ReadyFD)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		readW.Close()
		return nil, fmt.Errorf("start %s: %w", Binary, err)
	}
	if err := cmd.Start(); err != nil {
		readW.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.Bin, err)
	}
	readW.Close() // the child holds its own copy: EOF here means it exited
	p := &Process{cmd: cmd, stdin: stdin, tail: t, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	line := make(chan []byte, 1)
	go func() {
		b, _ := bufio.NewReader(readR).ReadBytes('\n')
		line <- b
	}()
	select {
	case b := <-line:
		if len(b) == 0 {
			<-p.done
			return nil, p.exitError()
		}
		if err := json.Unmarshal(b, &p.ready); err != nil || p.ready.Frontend == "" {
			return nil, errors.Join(fmt.Errorf("%s reported %q, not a ready line", Binary, bytes.TrimSpace(b)), p.Stop())
		}
		return p, nil
	case <-ctx.Done():
		return nil, errors.Join(fmt.Errorf("waiting for %s: %w", Binary, ctx.Err()), p.Stop())
	}
}

// exitError describes how the server exited, with the end of its output.
func (p *Process) exitError() error {
	return fmt.Errorf("%s exited (%v):\n%s", Binary, p.err, p.tail.String())
}

// FrontendAddress returns the host:port that Temporal clients and workers dial.
func (p *Process) FrontendAddress() string { return p.ready.Frontend }

// UIAddress returns the Web UI's base URL, or "" without the UI.
func (p *Process) UIAddress() string { return p.ready.UI }

// Namespace returns the namespace registered at start.
func (p *Process) Namespace() string { return p.ready.Namespace }

// Exited is closed when the server's process has ended, whether by Stop or not.
func (p *Process) Exited() <-chan struct{} { return p.done }

// stopTimeout is how long Stop waits for the server to stop before it kills it.
const stopTimeout = 30 * time.Second

// Stop closes the server's standard input, which stops it, and waits for it to
// exit; a server still running after stopTimeout is killed. Only the first call
// does the work; later calls return its result.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.cmd.Process.Kill()
			<-p.done
			p.stopErr = fmt.Errorf("%s did not stop within %v and was killed", Binary, stopTimeout)
			return
		}
		var exit *exec.ExitError
		if errors.As(p.err, &exit) {
			p.stopErr = p.exitError()
		}
	})
	return p.stopErr
}

// tailLines is how many lines of the server's output an error quotes.
const tailLines = 20

// tail keeps the last tailLines lines written to it.
type tail struct {
	mu    sync.Mutex
	lines [][]byte
	part  []byte
}

// Write keeps b's complete lines and the start of an incomplete one.
func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.part = append(t.part, b...)
			break
		}
		t.lines = append(t.lines, append(t.part, b[:i]...))
		t.part = nil
		if len(t.lines) > tailLines {
			t.lines = t.lines[1:]
		}
		b = b[i+1:]
	}
	return n, nil
}

// String returns the kept lines, indented.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sb bytes.Buffer
	for _, l := range append(t.lines, t.part) {
		if len(l) > 0 {
			sb.WriteString("    ")
			sb.Write(l)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
