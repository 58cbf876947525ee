package harness

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/mesh/meshcheck"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
)

// LocalStore opens a store in a temporary folder of the test.
func LocalStore(t testing.TB) storage.Store {
	t.Helper()
	st, err := storage.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// CheckMesh loads and checks the mesh in dir as meshflow validate does, and
// fails the test unless it validates.
func CheckMesh(t testing.TB, dir string) *spec.Set {
	t.Helper()
	res := meshcheck.Check(t.Context(), dir)
	if res.Diagnostics.HasErrors() {
		t.Fatalf("mesh %s does not validate: %v", dir, res.Diagnostics.Err())
	}
	return res.Set
}

// Queues returns the task queues of the mesh's domains.
func Queues(set *spec.Set) []string {
	var qs []string
	for _, d := range set.Mesh.Domains {
		qs = append(qs, d.Queue())
	}
	return qs
}

// OrdersContract is the contract of the orders products: two columns and one
// CEL row rule (amount_1: amount >= 0) evaluated in DuckDB.
const OrdersContract = `apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true}
      - {name: amount, logicalType: number, quality: [{type: custom, engine: cel, implementation: "amount >= 0.0"}]}
`

// TinyProduct returns a product of a few rows read from a CSV file it writes
// in dir, checked against OrdersContract and published without approval.
func TinyProduct(t testing.TB, dir, domain, name, queue string) refresh.Product {
	t.Helper()
	f := filepath.Join(dir, name+".csv")
	content := fmt.Sprintf("id,amount\n1,10.5\n2,3\n3,%d\n", len(name))
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return refresh.Product{Domain: domain, Name: name, Owner: "ana", TaskQueue: queue,
		Inputs:   []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(f), Format: "csv"}},
		SQL:      "SELECT id, amount FROM orders",
		Contract: OrdersContract, ContractFile: name + ".odcs.yaml",
		Governance: refresh.Governance{Approval: "never"}}
}

// QuietLogger drops what it is given: the activities' logs, and the Temporal
// SDK's reconnection warnings while a server is stopped on purpose.
func QuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// ChangeInput appends a row to the CSV file of a product made by TinyProduct,
// so that its next run publishes a new version: a run whose output is the
// latest version's again ends unchanged.
func ChangeInput(t testing.TB, p refresh.Product) {
	t.Helper()
	if len(p.Inputs) == 0 || !strings.HasPrefix(p.Inputs[0].URI, "file://") {
		t.Fatalf("%s has no input file to change", p.Ref())
	}
	f := strings.TrimPrefix(p.Inputs[0].URI, "file://")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Count(strings.TrimSpace(string(b)), "\n")
	if err := os.WriteFile(f, fmt.Appendf(b, "%d,%d\n", 100+rows, rows), 0o644); err != nil {
		t.Fatal(err)
	}
}
