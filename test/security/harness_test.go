package security

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/meshrev"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// The suite's mesh: domain sec (queue secQueue) owns sec/base, sec/approved
// and sec/target, which need a steward's sign-off (sec/target is never run
// legitimately, so that any trace of it is an attack's), and the products the
// attacks run; domain other owns
// other/secret, restricted, which sec's team may read only with a grant.
const (
	secQueue   = "sec-q"
	otherQueue = "other-q"
	steward    = "stella.steward" // sec's steward
	submitter  = "alice"          // asks for the legitimate runs
	owner      = "olga.owner"     // other's owner and steward
	secTeam    = "sec-data"       // sec's owner team
)

// runTimeout bounds the wait for a run's result.
const runTimeout = 2 * time.Minute

const contractYAML = `apiVersion: v3.1.0
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: id, logicalType: integer, required: true}
      - {name: amount, logicalType: number}
`

// env is the shared harness on a local store that holds the suite's mesh
// revision, with meshflow's real workers on both queues and the attacker's
// worker. Its Temporal client is the attacker's view: raw Temporal access; its
// control client signs as meshflow serve would.
type env struct {
	*harness.Env
	root  string // the store's folder
	rev   string
	input string // the orders CSV every product reads
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	st, err := storage.OpenLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(csv, []byte("id,amount\n1,10.5\n2,3\n3,7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &env{Env: harness.New(t, "security", st), root: root, input: "file://" + csv}
	e.rev = e.publish()
	e.StartWorkers([]string{secQueue, otherQueue}, harness.WorkerOptions{})
	// The attacker's own worker, hosting a workflow that starts refreshes.
	evil := sdkworker.New(e.Temporal, evilQueue, sdkworker.Options{})
	evil.RegisterWorkflow(evilParent)
	evil.RegisterWorkflow(evilActivities)
	if err := evil.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(evil.Stop)
	return e
}

// product is a product of domain sec that reads the orders with sql.
func (e *env) product(name string, approval refresh.ApprovalMode, sql string) refresh.Product {
	return refresh.Product{Domain: "sec", Name: name, Owner: secTeam, TaskQueue: secQueue, Access: refresh.AccessOpen,
		Description: "security suite", Inputs: []refresh.Input{{Name: "orders", URI: e.input, Format: "csv"}}, SQL: sql,
		Contract: contractYAML, ContractFile: name + ".odcs.yaml",
		Governance: refresh.Governance{Approval: approval, Stewards: []string{steward}, Quorum: 1, Timeout: time.Hour}}
}

// sandboxEscapes are transform SQL that tries to leave DuckDB's sandbox; each
// is a product of the revision, and its run must fail in the transform.
func (e *env) sandboxEscapes() map[string]string {
	return map[string]string{
		"read-other-product": fmt.Sprintf("SELECT * FROM read_parquet('%s/other/secret/*/data.parquet')", e.root),
		"read-etc-passwd":    "SELECT 1 AS id, length(content)::DOUBLE AS amount FROM read_text('/etc/passwd')",
		"copy-forged-grant":  fmt.Sprintf("COPY (SELECT 'x' AS forged) TO '%s/_grants/other/secret/forged.json'", e.root),
		"attach":             fmt.Sprintf("ATTACH '%s/evil.db' AS evil", e.root),
		"second-statement":   fmt.Sprintf("SELECT id, amount FROM orders; COPY orders TO '%s/_grants/stolen.csv'", e.root),
		"set-external":       "SET enable_external_access = true",
		"install-httpfs":     "INSTALL httpfs",
		"load-httpfs":        "LOAD httpfs",
		"glob-the-store":     fmt.Sprintf("SELECT 1 AS id, 1.0 AS amount FROM glob('%s/**')", e.root),
		"pragma":             "PRAGMA database_list",
		"https-url":          "SELECT 1 AS id, 1.0 AS amount FROM read_csv('https://example.com/orders.csv')",
		"read-csv-absolute":  "SELECT 1 AS id, 1.0 AS amount FROM read_csv('/etc/passwd')",
		"query-runs-copy":    fmt.Sprintf("SELECT * FROM query('COPY (SELECT 1) TO ''%s/_grants/stolen.csv''')", e.root),
		"set-after-select":   "SELECT id, amount FROM orders; SET lock_configuration = false",
		"getenv":             "SELECT 1 AS id, length(getenv('HOME'))::DOUBLE AS amount",
	}
}

// publish makes the suite's mesh the current revision.
func (e *env) publish() string {
	products := []refresh.Product{
		e.product("base", "always", "SELECT id, amount FROM orders"),
		e.product("self-approved", "always", "SELECT id, amount FROM orders"),
		e.product("approved", "always", "SELECT id, amount FROM orders"),
		e.product("target", "always", "SELECT id, amount FROM orders"), // never run legitimately
		{Domain: "other", Name: "secret", Owner: "other-data", TaskQueue: otherQueue, Access: refresh.AccessRestricted,
			Description: "restricted data", Inputs: []refresh.Input{{Name: "orders", URI: e.input, Format: "csv"}}, SQL: "SELECT id, amount FROM orders",
			Contract: contractYAML, ContractFile: "secret.odcs.yaml", Governance: refresh.Governance{Approval: "never", Stewards: []string{owner}, Quorum: 1, Timeout: time.Hour}},
	}
	reader := e.product("reader", "never", "SELECT id, amount FROM orders")
	reader.Inputs = []refresh.Input{{Name: "orders", Product: "other/secret", Access: refresh.AccessRestricted}}
	reader.Governance.Timeout = 10 * time.Minute
	products = append(products, reader)
	// A local input that is a symbolic link into the store, to other/secret's
	// first version (published by the suite's setup).
	link := filepath.Join(e.T.TempDir(), "orders.parquet")
	if err := os.Symlink(filepath.Join(e.root, "other", "secret", "v1.0.0", "data.parquet"), link); err != nil {
		e.T.Fatal(err)
	}
	linkReader := e.product("link-reader", "never", "SELECT id, amount FROM orders")
	linkReader.Inputs = []refresh.Input{{Name: "orders", URI: "file://" + filepath.ToSlash(link), Format: "parquet"}}
	products = append(products, linkReader)
	// A reader of sec/alias, a product of its own domain whose latest
	// pointer the attacker forges.
	aliasReader := e.product("alias-reader", "never", "SELECT id, amount FROM orders")
	aliasReader.Inputs = []refresh.Input{{Name: "orders", Product: "sec/alias", Access: refresh.AccessOpen}}
	products = append(products, aliasReader)
	storeReader := e.product("store-reader", "never", "SELECT id, amount FROM orders")
	storeReader.Inputs = []refresh.Input{{Name: "orders", URI: "file://" + e.root + "/other/secret/v1.0.0/data.parquet", Format: "parquet"}}
	products = append(products, storeReader)
	for name, sql := range e.sandboxEscapes() {
		products = append(products, e.product(name, "never", sql))
	}
	rev := meshrev.Revision{Products: map[string]refresh.Product{}, AccessApprovers: map[string][]string{}}
	for _, p := range products {
		rev.Products[p.Ref()] = p
		rev.AccessApprovers[p.Ref()] = p.Governance.Stewards
	}
	rev.AccessApprovers["other/secret"] = []string{owner}
	return e.Mesh.Publish(e.T, rev)
}

// startRef starts a legitimate refresh of ref from the current revision, signed
// as serve would sign it.
func (e *env) startRef(ref, suffix, who string) client.WorkflowRun {
	e.T.Helper()
	p := refresh.Product{}
	domain, _, _ := strings.Cut(ref, "/")
	p.TaskQueue = secQueue
	if domain == "other" {
		p.TaskQueue = otherQueue
	}
	run, err := e.Control.Start(e.T.Context(), control.Refresh{Ref: ref, TaskQueue: p.TaskQueue, Principal: who, Reason: "security suite", Suffix: suffix})
	if err != nil {
		e.T.Fatal(err)
	}
	return run
}

// noTrace reports what a refused attack left behind: a published version or
// staged objects of the product, or files outside the store's layout.
func (e *env) noTrace(ref string) error {
	ctx := e.T.Context()
	for _, prefix := range []string{ref + "/", "_staging/" + ref + "/"} {
		objs, err := e.Store.List(ctx, prefix)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if len(objs) > 0 {
			return fmt.Errorf("left %d object(s) under %s, e.g. %s", len(objs), prefix, objs[0].Key)
		}
	}
	for _, f := range []string{"evil.db", "_grants/other/secret/forged.json", "_grants/stolen.csv"} {
		if _, err := os.Stat(filepath.Join(e.root, f)); err == nil {
			return fmt.Errorf("the store holds %s", f)
		}
	}
	return nil
}

// tokens authenticates bearer tokens that are principals' names, for the HTTP
// attacks.
type tokens map[string]string

func (a tokens) Authenticate(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if p, found := a[tok]; ok && found {
		return p, nil
	}
	return "", errors.New("unauthenticated")
}
