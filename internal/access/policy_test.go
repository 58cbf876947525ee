package access

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestS3PolicyGolden(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	grants := []Grant{
		{ID: "g-2b", Product: "sales-china/regional-sales", Principal: "chen.jie", GrantedBy: "li.wei", GrantedAt: at, ExpiresAt: at.Add(720 * time.Hour)},
		{ID: "g-1a", Product: "finance/global-kpis", Principal: "anna.schmidt", GrantedBy: "maria.rossi", GrantedAt: at, ExpiresAt: at.Add(24 * time.Hour)},
		// Revoked and never granted: not exported.
		{ID: "g-3c", Product: "finance/global-kpis", Principal: "tom.baker", GrantedAt: at, ExpiresAt: at.Add(time.Hour), RevokedAt: at.Add(time.Minute)},
		{ID: "g-4d", Product: "finance/global-kpis", Principal: "li.wei", ExpiresAt: at.Add(time.Hour)},
	}
	got, err := S3Policy(grants, "mesh-products", "prod", func(p string) string { return "arn:aws:iam::123456789012:role/" + p })
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(got) {
		t.Fatalf("not JSON:\n%s", got)
	}
	golden := filepath.Join("testdata", "policy.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("policy differs from %s (run go test -update):\n%s", golden, got)
	}
}

func TestS3PolicyErrors(t *testing.T) {
	g := []Grant{{ID: "g", Product: "finance/global-kpis", Principal: "x", GrantedAt: time.Unix(1, 0), ExpiresAt: time.Unix(2, 0)}}
	arn := func(p string) string { return "arn:aws:iam::1:role/" + p }
	for name, tc := range map[string]struct {
		grants []Grant
		bucket string
		arn    func(string) string
		want   string
	}{
		"no bucket":  {g, "", arn, "no bucket"},
		"no mapping": {g, "b", nil, "no mapping"},
		"empty arn":  {g, "b", func(string) string { return "" }, `no ARN for principal "x"`},
		"bad ref":    {[]Grant{{ID: "g", Product: "global-kpis", GrantedAt: time.Unix(1, 0)}}, "b", arn, "not <domain>/<product>"},
	} {
		if _, err := S3Policy(tc.grants, tc.bucket, "", tc.arn); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	// No active grant still gives a valid, empty policy.
	b, err := S3Policy(nil, "b", "", arn)
	if err != nil || !strings.Contains(string(b), `"Statement": []`) {
		t.Fatalf("empty policy: %s, %v", b, err)
	}
}

func TestGrantActive(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	g := Grant{GrantedAt: at, ExpiresAt: at.Add(time.Hour)}
	for _, tc := range []struct {
		g    Grant
		now  time.Time
		want bool
	}{
		{g, at, true},
		{g, at.Add(time.Hour - time.Nanosecond), true},
		{g, at.Add(time.Hour), false},
		{Grant{GrantedAt: at, ExpiresAt: at.Add(time.Hour), RevokedAt: at.Add(time.Minute)}, at.Add(2 * time.Minute), false},
		{Grant{ExpiresAt: at.Add(time.Hour)}, at, false},
		{g, at.Add(-time.Second), false},
	} {
		if got := tc.g.Active(tc.now); got != tc.want {
			t.Errorf("%+v at %s: active %t, want %t", tc.g, tc.now, got, tc.want)
		}
	}
}
