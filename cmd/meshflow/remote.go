package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/serve"
)

// tokenOrEnv returns the --token flag, else $MESHFLOW_TOKEN. The token is not the
// flag's default, so that -h never prints it.
func tokenOrEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("MESHFLOW_TOKEN")
}

// actorFlags say who acts and through which meshflow serve. People act only
// through serve, which authenticates them and signs what they ask for; the
// workflows refuse anything unsigned.
type actorFlags struct {
	server, token, as, devDir string
}

func (f *actorFlags) register(fs *flag.FlagSet, who string) {
	fs.StringVar(&f.server, "server", envOr("MESHFLOW_SERVER", ""), "URL of meshflow serve: act through its API as the principal your token names")
	fs.StringVar(&f.token, "token", "", "API token for --server (default $MESHFLOW_TOKEN; make one with meshflow token new)")
	fs.StringVar(&f.as, "as", envOr("MESHFLOW_PRINCIPAL", ""), who+" — against meshflow dev only, whose dev tokens it uses")
	fs.StringVar(&f.devDir, "dev-data-dir", envOr("MESHFLOW_DEV_DATA_DIR", ".meshflow"), "data folder of the meshflow dev that --as talks to")
}

// devSessionFile is where meshflow dev writes its API's address and dev tokens
// (mode 0600) while it runs; --as reads it.
const devSessionFile = "dev-session.json"

// devSession is the content of devSessionFile.
type devSession struct {
	URL    string            `json:"url"`
	Tokens map[string]string `json:"tokens"`
}

// client returns the serve API client to act through.
func (f *actorFlags) client() (*serve.Client, error) {
	if f.as != "" {
		if f.server != "" {
			return nil, errors.New("--as is for meshflow dev only; with --server you act as the principal your token names: drop --as")
		}
		file := filepath.Join(f.devDir, devSessionFile)
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--as works only against a running meshflow dev (no %s: %v); elsewhere use --server with MESHFLOW_TOKEN", file, err)
		}
		var sess devSession
		if err := json.Unmarshal(b, &sess); err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		tok, ok := sess.Tokens[f.as]
		if !ok {
			return nil, fmt.Errorf("meshflow dev has no principal %q who can sign in (teams cannot act; see mesh.yaml)", f.as)
		}
		return &serve.Client{BaseURL: sess.URL, Token: tok}, nil
	}
	server, token := f.server, tokenOrEnv(f.token)
	if server == "" || token == "" {
		cfg, err := readClientConfig()
		if err != nil {
			return nil, err
		}
		server, token = cmp.Or(server, cfg.Server), cmp.Or(token, cfg.Token)
	}
	if server == "" || token == "" {
		return nil, errors.New("say who you are: --server <meshflow serve URL> with MESHFLOW_TOKEN (or --token, or ~/.config/meshflow/config.json with {\"server\": …, \"token\": …}), or --as <principal> against meshflow dev")
	}
	return &serve.Client{BaseURL: server, Token: token}, nil
}

// clientConfig is the CLI's config file: $MESHFLOW_CONFIG, else
// $XDG_CONFIG_HOME/meshflow/config.json (~/.config/meshflow/config.json), with
// {"server": "https://meshflow.example.com", "token": "mf_…"}. Flags and
// MESHFLOW_SERVER/MESHFLOW_TOKEN win over it. It must be readable by its owner
// only, since it holds a token.
type clientConfig struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

func readClientConfig() (clientConfig, error) {
	var cfg clientConfig
	file := os.Getenv("MESHFLOW_CONFIG")
	if file == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return cfg, nil
		}
		file = filepath.Join(dir, "meshflow", "config.json")
	}
	info, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return cfg, fmt.Errorf("%s holds a token but others may read it (mode %s): chmod 600 %s", file, info.Mode().Perm(), file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return cfg, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("read %s: %w (want {\"server\": \"https://…\", \"token\": \"mf_…\"})", file, err)
	}
	return cfg, nil
}

// decideViaServer delivers a decision through meshflow serve's API: the server
// names the principal from the token, and the run's validator decides whether
// that principal may decide.
func decideViaServer(ctx context.Context, c *serve.Client, verb string, approve bool, ref, workflowID, comment string, stdout io.Writer) error {
	var target api.RunStatus
	if workflowID != "" {
		run, err := c.Run(ctx, workflowID)
		if err != nil {
			return fmt.Errorf("read run %s: %w", workflowID, err)
		}
		target = run
	} else {
		pending, err := c.Approvals(ctx, ref)
		if err != nil {
			return fmt.Errorf("list runs of %s waiting for you: %w", ref, err)
		}
		switch len(pending) {
		case 0:
			return fmt.Errorf("no run of %s waits for your approval", ref)
		case 1:
			target = pending[0]
		default:
			var ids []string
			for _, p := range pending {
				ids = append(ids, p.WorkflowID)
			}
			return fmt.Errorf("%s: %d runs wait for your approval (%s); name one with --run", ref, len(ids), strings.Join(ids, ", "))
		}
	}
	if target.Status.Product != "" && target.Status.Product != ref {
		return fmt.Errorf("run %s refreshes %s, not %s", target.WorkflowID, target.Status.Product, ref)
	}
	d, err := c.Decide(ctx, api.DecisionRequest{WorkflowID: target.WorkflowID, Approve: &approve, Comment: comment, ManifestHash: target.Status.ManifestHash})
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, target.WorkflowID, err)
	}
	fmt.Fprintf(stdout, "%s: %s by %s recorded for manifest %s\n", d.Status.Product, verb, d.Principal, target.Status.ManifestHash)
	return nil
}
