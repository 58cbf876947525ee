package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshflow/meshflow/internal/http/auth"
)

func TestTokenNew(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"token", "new", "maria.rossi", "--mesh", exampleMesh}, &out, &errOut); err != nil {
		t.Fatalf("token new: %v\n%s", err, errOut.String())
	}
	tok := regexp.MustCompile(`(?m)^  (mf_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(out.String())
	hash := regexp.MustCompile(`(?m)^  tokenHash: (sha256:[0-9a-f]{64})$`).FindStringSubmatch(out.String())
	if tok == nil || hash == nil {
		t.Fatalf("output lacks the token or the tokenHash line:\n%s", out.String())
	}
	if auth.HashToken(tok[1]) != hash[1] {
		t.Errorf("tokenHash %s is not the hash of the printed token", hash[1])
	}
}

func TestServeAndTokenBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"token for a team", []string{"token", "new", "finance-data", "--mesh", exampleMesh}, "finance-data is a team"},
		{"token for a misspelt principal", []string{"token", "new", "maria.rosi", "--mesh", exampleMesh}, `did you mean "maria.rossi"?`},
		{"serve without any tokenHash", []string{"serve", "--mesh", exampleMesh, "--listen", "127.0.0.1:0"}, "no principal in mesh.yaml has a tokenHash"},
		{"serve with half an OIDC setup", []string{"serve", "--mesh", exampleMesh, "--oidc-issuer", "https://login.example/"}, "OIDC needs audience, JWKS URL"},
		{"approve via server without token", []string{"approve", "finance/global-kpis", "--server", "http://127.0.0.1:1"}, "with MESHFLOW_TOKEN (or --token"},
		{"approve with --as away from meshflow dev", []string{"approve", "finance/global-kpis", "--as", "maria.rossi", "--dev-data-dir", "/nonexistent"}, "--as works only against a running meshflow dev"},
		{"run without an identity", []string{"run", "finance/global-kpis"}, "say who you are"},
		{"serve without a signing key", []string{"serve", "--mesh", exampleMesh, "--oidc-issuer", "https://login.example/", "--oidc-audience", "meshflow",
			"--oidc-jwks-url", "https://login.example/keys"}, "--signing-key-file is required"},
		{"approve via server with --as", []string{"approve", "finance/global-kpis", "--server", "http://127.0.0.1:1", "--token", "mf_x", "--as", "maria.rossi"}, "drop --as"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MESHFLOW_TOKEN", "")
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestClientConfigFile: the CLI finds serve and its token in the config file,
// and refuses one that others may read.
func TestClientConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("MESHFLOW_CONFIG", file)
	t.Setenv("MESHFLOW_TOKEN", "")
	t.Setenv("MESHFLOW_SERVER", "")
	t.Setenv("MESHFLOW_PRINCIPAL", "")
	if err := os.WriteFile(file, []byte(`{"server": "http://127.0.0.1:1", "token": "mf_x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var f actorFlags
	c, err := f.client()
	if err != nil || c.BaseURL != "http://127.0.0.1:1" || c.Token != "mf_x" {
		t.Fatalf("client from the config file: %+v, %v", c, err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a config file others may read: %v", err)
	}
}
