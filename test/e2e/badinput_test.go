package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/catalog"
	"github.com/meshflow/meshflow/test/harness"
	"go.temporal.io/sdk/temporal"
)

// TestBadInputsFailClearly runs products whose data or SQL is wrong: each run ends
// with a non-retryable error naming the product, the stage and the cause, the
// status query says failed, and nothing is published.
func TestBadInputsFailClearly(t *testing.T) {
	e := newEnv(t, harness.LocalStore(t))
	e.startWorkers([]string{"e2e"}, nil)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	good := write("good.csv", "id,amount\n1,10.5\n2,3\n")
	cases := []struct {
		name, uri, sql, errType, stage string
		want                           []string
	}{
		{"malformed-csv", write("bad.csv", "id,amount\n1,10.5\n2,3,oops\n3,4\n"), "SELECT id, amount FROM orders",
			refresh.ErrBadInput, "transforming", []string{"input orders: file 1 of 1: line 3: wrong number of fields"}},
		{"missing-input", "file://" + filepath.Join(dir, "nowhere.csv"), "SELECT id, amount FROM orders",
			refresh.ErrBadInput, "ingesting", []string{"input orders", "nowhere.csv does not exist"}},
		{"sql-error", good, "SELECT id, amount FROM order_lines",
			refresh.ErrTransform, "transforming", []string{"transform SQL", "order_lines"}},
		{"column-not-in-contract", good, "SELECT id, amount, 'x' AS note FROM orders",
			refresh.ErrContract, "validating", []string{`column "note" is not in the contract`}},
		{"rule-fails", good, "SELECT id, amount - 5 AS amount FROM orders",
			refresh.ErrQuality, "validating", []string{"amount_1", "nothing was published"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := refresh.Product{Domain: "sales", Name: tc.name, Owner: "ana", TaskQueue: "e2e",
				Inputs: []refresh.Input{{Name: "orders", URI: tc.uri, Format: "csv"}}, SQL: tc.sql,
				Contract: harness.OrdersContract, ContractFile: tc.name + ".odcs.yaml", Governance: refresh.Governance{Approval: "never"}}
			run := e.startProduct(p, "bad", "ana")
			_, err := e.Result(run, time.Minute)
			appErr, ok := errors.AsType[*temporal.ApplicationError](err)
			if !ok || appErr.Type() != tc.errType {
				t.Fatalf("got %v, want an error of type %s", err, tc.errType)
			}
			for _, w := range append([]string{"sales/" + tc.name + ", stage " + tc.stage}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			st, err := e.Control.Status(t.Context(), run.GetID(), run.GetRunID())
			if err != nil || st.Stage != refresh.StageFailed || st.Error == "" {
				t.Errorf("status after failure: %+v, %v", st, err)
			}
			if _, err := catalog.Show(t.Context(), e.Store, "sales/"+tc.name); err == nil {
				t.Error("a failed run published a version")
			}
			e.record("failed-"+tc.name, run.GetID(), run.GetRunID())
		})
	}
}
