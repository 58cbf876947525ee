package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshflow/meshflow/internal/access"
	"github.com/meshflow/meshflow/internal/access/grants"
	"github.com/meshflow/meshflow/internal/store/storage"
)

func TestAccessPolicyExportsActiveGrants(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, g := range []access.Grant{
		{ID: "g-active", Principal: "chen.jie", GrantedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		{ID: "g-expired", Principal: "tom.baker", GrantedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{ID: "g-revoked", Principal: "li.wei", GrantedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), RevokedAt: now, RevokedBy: "maria.rossi"},
	} {
		g.Product, g.WorkflowID = "finance/global-kpis", "access/finance/global-kpis/"+g.Principal+"/1"
		if _, err := grants.Record(t.Context(), st, g); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	err = run(t.Context(), []string{"access", "policy", "--store", dir, "--bucket", "mesh-products", "--prefix", "prod/",
		"--principal-arn-template", "arn:aws:iam::123456789012:role/{principal}"}, &out, &errb)
	if err != nil {
		t.Fatalf("access policy: %v\n%s", err, errb.String())
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Principal map[string]string
			Resource  string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, out.String())
	}
	if len(doc.Statement) != 2 || doc.Statement[0].Principal["AWS"] != "arn:aws:iam::123456789012:role/chen.jie" ||
		doc.Statement[0].Resource != "arn:aws:s3:::mesh-products/prod/finance/global-kpis/*" {
		t.Fatalf("want the two statements of chen.jie's active grant only, got\n%s", out.String())
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"access", "policy", "--store", dir, "--principal-arn-template", "{principal}"}, "--bucket"},
		{[]string{"access", "policy", "--store", dir, "--bucket", "b"}, "--principal-arn-template"},
		{[]string{"access", "grant"}, `unknown access subcommand "grant"`},
		{[]string{"access", "approve", "finance/global-kpis"}, "--as"},
	} {
		err := run(t.Context(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
