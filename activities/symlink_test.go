package activities

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/partition"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// meshWithLinks is a mesh folder whose data folder holds a real CSV, a
// symbolic link to a CSV elsewhere on the worker ("outside", standing in for
// /etc/passwd), a link to a file inside the mesh, and a day-partitioned folder
// with one real and one linked partition.
func meshWithLinks(t *testing.T) (mesh string) {
	t.Helper()
	mesh, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "passwd.csv")
	for f, body := range map[string]string{
		secret: "id\n666\n",
		filepath.Join(mesh, "data", "orders.csv"):                      "id\n1\n",
		filepath.Join(mesh, "data", "days", "day=2026-01-01", "a.csv"): "id\n2\n",
	} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(mesh, "data", "passwd.csv"):                      secret,
		filepath.Join(mesh, "data", "inside.csv"):                      filepath.Join(mesh, "data", "orders.csv"),
		filepath.Join(mesh, "data", "linked", "passwd.csv"):            secret,
		filepath.Join(mesh, "data", "days", "day=2026-01-02", "b.csv"): secret,
	} {
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return mesh
}

// meshInput is a file:// input as a revision carries it: absolute against
// the mesh folder, with the URI as the spec wrote it.
func meshInput(mesh, rel string) refresh.Input {
	return refresh.Input{Name: "orders", URI: "file://" + filepath.ToSlash(filepath.Join(mesh, rel)), SpecURI: "file://" + rel, Format: refresh.FormatCSV}
}

// TestSymlinksOutOfTheMeshAreNotIngested: a local input, or a file of an input
// folder, that is a symbolic link out of the mesh folder is refused as
// unauthorized at run time, naming where it leads; a link that stays in the
// mesh folder is read.
func TestSymlinksOutOfTheMeshAreNotIngested(t *testing.T) {
	mesh := meshWithLinks(t)
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := runAs(&Activities{Store: st, Scratch: t.TempDir(), Threads: 1}, "run-1")
	ingest := func(in refresh.Input) (refresh.IngestResult, error) {
		var ts testsuite.WorkflowTestSuite
		env := ts.NewTestActivityEnvironment()
		env.RegisterActivity(a.Ingest)
		p := applyProducts(t, st, refresh.Product{Domain: "sec", Name: "reader", SQL: "SELECT * FROM orders", Inputs: []refresh.Input{in}})[0]
		var res refresh.IngestResult
		v, err := env.ExecuteActivity(a.Ingest, refresh.IngestInput{Product: p, RunID: "run-1"})
		if err == nil {
			err = v.Get(&res)
		}
		return res, err
	}
	for _, rel := range []string{"data/passwd.csv", "data/linked/"} {
		_, err := ingest(meshInput(mesh, rel))
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized || !strings.Contains(err.Error(), "outside the mesh folder") {
			t.Errorf("Ingest of file://%s: %v; want %s naming the link out of the mesh folder", rel, err, refresh.ErrUnauthorized)
		}
	}
	// Without the spec's URI (a revision built by hand), the input's own
	// folder is the boundary.
	abs := meshInput(mesh, "data/passwd.csv")
	abs.SpecURI = ""
	if _, err := ingest(abs); err == nil {
		t.Error("a link out of the input's folder was read without a spec URI")
	}
	res, err := ingest(meshInput(mesh, "data/inside.csv"))
	if err != nil || len(res.Inputs) != 1 || len(res.Inputs[0].Objects) != 1 {
		t.Fatalf("a link inside the mesh folder: %+v, %v; want it read", res, err)
	}
}

// TestSymlinkedPartitionsAreRefused: a partition file of a day-partitioned
// input that links out of the mesh folder makes the listing fail as
// unauthorized, and so does opening it, should it be swapped in after the
// listing.
func TestSymlinkedPartitionsAreRefused(t *testing.T) {
	mesh := meshWithLinks(t)
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Activities{Store: st, Scratch: t.TempDir(), Threads: 1}
	in := meshInput(mesh, "data/days/day={day}/")
	in.Partitioned = true
	p := refresh.Product{Domain: "sec", Name: "days", Inputs: []refresh.Input{in}}
	_, _, _, err = a.listPartitioned(t.Context(), p, in, partition.Day)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized {
		t.Fatalf("listing the partitions: %v; want %s", err, refresh.ErrUnauthorized)
	}
	linked := sourceObject{URI: "file://" + filepath.ToSlash(filepath.Join(mesh, "data", "days", "day=2026-01-02", "b.csv"))}
	err = a.copyPartitionSource(t.Context(), p, "run-1", in, linked, filepath.Join(t.TempDir(), "b.csv"))
	if !errors.As(err, &app) || app.Type() != refresh.ErrUnauthorized {
		t.Fatalf("copying a linked partition: %v; want %s", err, refresh.ErrUnauthorized)
	}
}
