package devproc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeEnv makes the test binary act as a meshflow-temporal: "ready" reports
// readiness and serves until standard input closes, "fail" prints a reason and
// exits before it is ready, "hang" never reports, "garbage" reports something that is not a Ready
// line.
const fakeEnv = "DEVPROC_FAKE_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(fakeEnv) {
	case "":
		os.Exit(m.Run())
	case "ready":
		fmt.Fprintln(os.Stderr, "fake server: args", strings.Join(os.Args[1:], " "))
		w, err := ReadyWriter()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		b, _ := json.Marshal(Ready{Frontend: "127.0.0.1:7777", UI: "http://127.0.0.1:8888", Namespace: "default"})
		w.Write(append(b, '\n'))
		w.Close()
		io.Copy(io.Discard, os.Stdin)
		fmt.Fprintln(os.Stderr, "fake server: standard input closed, stopping")
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "port 7233 is in use; pass --temporal-port or stop it")
		os.Exit(1)
	case "hang":
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "garbage":
		w, _ := ReadyWriter()
		fmt.Fprintln(w, "hello")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

// fake returns a Config that runs the test binary as a fake server.
func fake(t *testing.T, mode string, log io.Writer) Config {
	t.Setenv(fakeEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{Bin: exe, DataDir: t.TempDir(), Host: DefaultHost, FrontendPort: 7777, UIPort: 8888, Log: log}
}

func TestStartReadsReadyAndStopClosesStdin(t *testing.T) {
	var log strings.Builder
	p, err := Start(t.Context(), fake(t, "ready", &log))
	if err != nil {
		t.Fatal(err)
	}
	if p.FrontendAddress() != "127.0.0.1:7777" || p.UIAddress() != "http://127.0.0.1:8888" || p.Namespace() != "default" {
		t.Errorf("ready = %+v", p.ready)
	}
	select {
	case <-p.Exited():
		t.Fatal("the server exited before Stop")
	default:
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	<-p.Exited()
	out := log.String()
	for _, want := range []string{"--supervised", "--frontend-port 7777", "--ui-port 8888", "standard input closed"} {
		if !strings.Contains(out, want) {
			t.Errorf("server output lacks %q:\n%s", want, out)
		}
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartReportsAnExitBeforeReady(t *testing.T) {
	_, err := Start(t.Context(), fake(t, "fail", nil))
	if err == nil || !strings.Contains(err.Error(), "port 7233 is in use") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v; want the exit and the server's own words", err)
	}
}

func TestStartRefusesAGarbledReadyLine(t *testing.T) {
	_, err := Start(t.Context(), fake(t, "garbage", nil))
	if err == nil || !strings.Contains(err.Error(), `reported "hello"`) {
		t.Fatalf("err = %v; want the garbled line named", err)
	}
}

func TestStartGivesUpWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Start(ctx, fake(t, "hang", nil)); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v; want the wait to end with the context", err)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, Binary)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv(EnvBinary, bin)
		if got, err := Find(t.TempDir(), io.Discard); err != nil || got != bin {
			t.Errorf("Find = %q, %v; want %q", got, err, bin)
		}
		t.Setenv(EnvBinary, filepath.Join(dir, "missing"))
		if _, err := Find(t.TempDir(), io.Discard); err == nil || !strings.Contains(err.Error(), "$"+EnvBinary) {
			t.Errorf("Find with a missing $%s = %v; want it named", EnvBinary, err)
		}
	})
	t.Run("outside the source tree", func(t *testing.T) {
		t.Setenv(EnvBinary, "")
		t.Setenv("PATH", dir)
		t.Chdir(t.TempDir())
		if got, err := Find(t.TempDir(), io.Discard); err != nil || got != bin {
			t.Errorf("Find = %q, %v; want the one on PATH, %q", got, err, bin)
		}
		t.Setenv("PATH", t.TempDir())
		if _, err := Find(t.TempDir(), io.Discard); err == nil || !strings.Contains(err.Error(), "go install") {
			t.Errorf("Find with none = %v; want how to install one", err)
		}
	})
	t.Run("source tree", func(t *testing.T) {
		root, ok := sourceRoot()
		if !ok {
			t.Fatal("the test runs inside meshflow's source tree, but sourceRoot found none")
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", Binary, "main.go")); err != nil {
			t.Errorf("sourceRoot = %s, which lacks cmd/%s: %v", root, Binary, err)
		}
	})
}
