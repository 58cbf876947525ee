package control

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/mesh/spec"
)

func TestAccessInput(t *testing.T) {
	set, ds := spec.Load(filepath.Join("..", "..", "..", "examples", "mesh"))
	if ds.HasErrors() {
		t.Fatalf("example mesh: %v", ds.Err())
	}
	req, err := AccessInput(set, "sales-emea/regional-sales", "chen.jie", "EMEA benchmark", 720*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The owner team emea-sales-data is anna.schmidt; the product has no stewards
	// of its own, so the domain's (anna.schmidt) approve too, once.
	if !slices.Equal(req.Approvers, []string{"anna.schmidt"}) || req.Owner != "emea-sales-data" || req.TaskQueue == "" ||
		req.Product != "sales-emea/regional-sales" || req.Duration != 720*time.Hour {
		t.Fatalf("request %+v", req)
	}
	req, err = AccessInput(set, "finance/global-kpis", "omar.haddad", "board pack", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(req.Approvers, []string{"maria.rossi", "omar.haddad"}) || req.CanApprove("omar.haddad") || !req.CanApprove("maria.rossi") {
		t.Fatalf("approvers %v: the requester is listed as a team member but may not approve", req.Approvers)
	}

	for _, tc := range []struct {
		ref, requester, purpose string
		d                       time.Duration
		want                    string
	}{
		{"finance/nope", "chen.jie", "x", time.Hour, "no product finance/nope"},
		{"finance/global-kpis", "", "x", time.Hour, "name one principal"},
		{"finance/global-kpis", "a/b", "x", time.Hour, "name one principal"},
		{"finance/global-kpis", "chen.jie", " ", time.Hour, "purpose"},
		{"finance/global-kpis", "chen.jie", "x", 0, "positive duration"},
		{"sales-emea/regional-sales", "anna.schmidt", "x", time.Hour, "nobody but anna.schmidt may approve"},
	} {
		if _, err := AccessInput(set, tc.ref, tc.requester, tc.purpose, tc.d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AccessInput(%s, %q, %q, %s): got %v, want an error with %q", tc.ref, tc.requester, tc.purpose, tc.d, err, tc.want)
		}
	}
}
