package devproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnvBinary names the environment variable that points meshflow dev at a
// meshflow-temporal executable.
const EnvBinary = "MESHFLOW_TEMPORAL"

// module is meshflow's Go module path, whose source tree Find builds from.
const module = "github.com/meshflow/meshflow"

// Find returns the meshflow-temporal executable that meshflow dev runs, looked
// for in this order:
//
//  1. the file $MESHFLOW_TEMPORAL names;
//  2. meshflow-temporal next to the running executable (go install and release
//     archives put the two side by side);
//  3. when the working directory is inside meshflow's source tree and go is on
//     PATH, one built from that source into binDir (this is what makes
//     `go run ./cmd/meshflow dev` work; the build cache makes every build but
//     the first one quick), with a line to progress while it builds;
//  4. meshflow-temporal on PATH.
//
// The error says how to get one when none is found.
func Find(binDir string, progress io.Writer) (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", EnvBinary, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), Binary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if root, ok := sourceRoot(); ok {
		if goBin, err := exec.LookPath("go"); err == nil {
			return build(goBin, root, binDir, progress)
		}
	}
	if p, err := exec.LookPath(Binary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no %s found next to this executable, on PATH or in $%s: install it with `go install %s/cmd/%s`, or run meshflow dev from meshflow's source folder", Binary, EnvBinary, module, Binary)
}

// build builds cmd/meshflow-temporal from the source tree at root into binDir.
func build(goBin, root, binDir string, progress io.Writer) (string, error) {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", Binary, err)
	}
	out, err := filepath.Abs(filepath.Join(binDir, Binary))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", Binary, err)
	}
	fmt.Fprintf(progress, "building %s from %s (the first build of the Temporal server takes a few minutes) …\n", Binary, root)
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/"+Binary)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s in %s: %v\n%s", Binary, root, err, b)
	}
	return out, nil
}

// sourceRoot returns the root of meshflow's source tree that holds the working
// directory, if it is inside one.
func sourceRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == module {
			if _, err := os.Stat(filepath.Join(dir, "cmd", Binary)); err == nil {
				return dir, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePath returns the module path a go.mod file declares, or "".
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// errNoReady is returned by ReadyWriter when the process was not started by
// devproc.Start.
var errNoReady = errors.New("not started by meshflow dev: no ready pipe on file descriptor 3")

// ReadyWriter returns the pipe a supervised meshflow-temporal reports Ready on.
func ReadyWriter() (*os.File, error) {
	f := os.NewFile(ReadyFD, "ready")
	if f == nil {
		return nil, errNoReady
	}
	if _, err := f.Stat(); err != nil {
		return nil, errNoReady
	}
	return f, nil
}
