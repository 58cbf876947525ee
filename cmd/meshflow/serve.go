package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/http/api"
	"github.com/meshflow/meshflow/internal/http/auth"
	"github.com/meshflow/meshflow/internal/http/serve"
	"github.com/meshflow/meshflow/internal/http/web"
	"github.com/meshflow/meshflow/internal/mesh/spec"
	"github.com/meshflow/meshflow/internal/metrics/meshstate"
	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/store/storage"
	"github.com/meshflow/meshflow/internal/temporal/control"
	"github.com/prometheus/client_golang/prometheus"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var conn connFlags
	conn.register(fs)
	mesh := fs.String("mesh", defaultMesh(), "mesh folder: its principals are who may call the API")
	var sf storeFlags
	sf.register(fs)
	temporalUI := fs.String("temporal-ui", envOr("MESHFLOW_TEMPORAL_UI", "http://127.0.0.1:8233"), "base URL of the Temporal Web UI, for links to runs; empty for none")
	listen := fs.String("listen", envOr("MESHFLOW_LISTEN", "127.0.0.1:8080"), "address to listen on")
	publicURL := fs.String("public-url", os.Getenv("MESHFLOW_PUBLIC_URL"), "URL people reach the pages at, e.g. https://meshflow.example.com behind a TLS proxy: when https, session cookies are Secure")
	var oidc auth.OIDCConfig
	fs.StringVar(&oidc.Issuer, "oidc-issuer", "", "OIDC issuer (the tokens' iss); with --oidc-audience and --oidc-jwks-url, callers authenticate with the provider's JWTs instead of mesh.yaml tokens")
	fs.StringVar(&oidc.Audience, "oidc-audience", "", "OIDC audience: meshflow's client ID at the provider")
	fs.StringVar(&oidc.JWKSURL, "oidc-jwks-url", "", "URL of the provider's signing keys (JWKS)")
	fs.StringVar(&oidc.Claim, "oidc-claim", auth.DefaultClaim, "JWT claim that names the principal: email (needs email_verified: true) and other values with an @ are matched against the principals' email in mesh.yaml, other values against their names")
	keyFile := fs.String("signing-key-file", os.Getenv("MESHFLOW_SIGNING_KEY_FILE"), "serve's Ed25519 signing key (meshflow keys new): every action it forwards is signed with it, and its public key must be in the applied mesh revision")
	verbose := fs.Bool("v", false, "log accepted decisions too")
	query := serve.DefaultQueryConfig()
	fs.StringVar(&query.Scratch, "query-scratch", query.Scratch, "folder for POST /api/v1/query: each query downloads its products into a folder of its own here, removed when it ends")
	fs.DurationVar(&query.Timeout, "query-timeout", query.Timeout, "longest a query may run")
	fs.StringVar(&query.MemoryLimit, "query-memory", query.MemoryLimit, "DuckDB memory_limit of one query")
	fs.IntVar(&query.MaxRows, "query-max-rows", query.MaxRows, "most rows a query may ask for")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow serve [flags]\n\nServes meshflow's HTTP API (/api/v1: approvals, runs, decisions) and /metrics. Callers authenticate\nwith tokens whose hashes are in mesh.yaml (meshflow token new), or with OIDC JWTs.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("meshflow serve takes no arguments (got %s)", strings.Join(fs.Args(), " "))
	}
	res, err := loadMesh(ctx, *mesh, stderr)
	if err != nil {
		return err
	}
	authn, how, err := authenticator(res.Set.Mesh, oidc)
	if err != nil {
		return err
	}
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, *verbose)
	c, closeFn, err := conn.control(logger)
	if err != nil {
		return err
	}
	defer closeFn()
	c.Signer = signer
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	reg := newRegistry()
	reg.MustRegister(meshstate.New(meshstate.Config{Store: st, Runs: c, Logger: logger}))
	h, err := newHandler(reg, c, authn, logger, st, res.Set, *temporalUI, *publicURL, query)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	fmt.Fprintf(stdout, "meshflow serve: API on http://%s/api/v1, metrics on http://%s/metrics; callers authenticate with %s; actions are signed with key %s\n", ln.Addr(), ln.Addr(), how, signer.KeyID())
	if host, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && !net.ParseIP(host).IsLoopback() {
		fmt.Fprintln(stderr, "meshflow serve: listening beyond this machine without TLS: put a TLS-terminating proxy in front, bearer tokens must not cross networks in clear text")
	}
	return serveAPI(ctx, ln, h)
}

// newHandler builds everything meshflow serves over HTTP, registering its metrics
// on reg, the process's registry: the JSON API under /api/v1, /metrics, and the web pages (catalog,
// product pages, runs, approvals inbox) at "/". Data is served from st to a
// product's owners and stewards (from the mesh) and to holders of an access grant.
func newHandler(reg *prometheus.Registry, c *control.Client, authn auth.Authenticator, logger *slog.Logger, st storage.Store, set *spec.Set, temporalUI, publicURL string, query serve.QueryConfig) (http.Handler, error) {
	// One decision path for the API and the inbox: one set of rules, each
	// decision counted once.
	decisions := api.NewDecisions(c, reg, logger)
	srv, err := serve.New(serve.Config{Runs: c, Auth: authn, Registry: reg, Logger: logger, Store: st, Readers: readers(set), Actions: c, Mesh: set,
		Decisions: decisions, Query: query})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", srv)
	mux.Handle("/metrics", srv)
	pages := web.New(web.Deps{Store: st, Mesh: set, Control: c, Decisions: decisions, Auth: authn, TemporalUI: temporalUI, Logger: logger, PublicURL: publicURL})
	mux.Handle("/", pages)
	mux.Handle(api.RouteProducts, pages) // the catalog's JSON API lives with its pages
	mux.Handle(api.RouteProduct, pages)
	mux.Handle(api.RouteProductODPS, pages)
	return mux, nil
}

// readers returns who may read a product without a grant: its owner team's
// people and its stewards.
func readers(set *spec.Set) func(ref string) []string {
	return func(ref string) []string {
		p := set.Product(ref)
		if p == nil {
			return nil
		}
		return set.People(append([]string{p.Metadata.Owner}, set.Stewards(p)...))
	}
}

// serveAPI serves h on ln until ctx ends, then shuts down gracefully.
func serveAPI(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("stop serving on %s: %w", ln.Addr(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// devTokens mints an in-memory token for every principal who can log in (not
// teams), for `meshflow dev`; they replace any tokenHash of mesh.yaml and die
// with the process.
func devTokens(m *spec.Mesh) (auth.Authenticator, map[string]string, error) {
	tokens := map[string]string{}
	var principals []spec.Principal
	for _, p := range m.Principals {
		if p.Kind == "team" {
			continue
		}
		tok, hash, err := auth.NewToken()
		if err != nil {
			return nil, nil, err
		}
		tokens[p.Name] = tok
		p.TokenHash = hash
		principals = append(principals, p)
	}
	authn, err := auth.NewTokens(principals)
	return authn, tokens, err
}

// authenticator chooses OIDC when any --oidc-* flag but the claim is set, else
// mesh.yaml tokens; how says which, for the banner.
func authenticator(m *spec.Mesh, oidc auth.OIDCConfig) (authn auth.Authenticator, how string, err error) {
	if oidc.Issuer != "" || oidc.Audience != "" || oidc.JWKSURL != "" {
		o, err := auth.NewOIDC(oidc, m.Principals)
		if err != nil {
			return nil, "", fmt.Errorf("configure OIDC: %w (give --oidc-issuer, --oidc-audience and --oidc-jwks-url)", err)
		}
		return o, fmt.Sprintf("OIDC JWTs of %s (claim %s)", oidc.Issuer, oidc.Claim), nil
	}
	t, err := auth.NewTokens(m.Principals)
	if err != nil {
		return nil, "", err
	}
	if t.Len() == 0 {
		return nil, "", errors.New("no principal in mesh.yaml has a tokenHash, so nobody could call the API: run `meshflow token new <principal>` and paste its tokenHash line, or configure OIDC (--oidc-issuer, --oidc-audience, --oidc-jwks-url)")
	}
	return t, fmt.Sprintf("tokens of %d principal(s) in mesh.yaml", t.Len()), nil
}

// startDevAPI serves the API for `meshflow dev` with a fresh token for every
// principal, prints the tokens once, and returns a line for the banner's
// examples. The API stops when ctx ends.
func startDevAPI(ctx context.Context, reg *prometheus.Registry, addr, dataDir string, set *spec.Set, st storage.Store, temporalUI string, c *control.Client, logger *slog.Logger, stdout, stderr io.Writer) (string, error) {
	authn, tokens, err := devTokens(set.Mesh)
	if err != nil {
		return "", err
	}
	h, err := newHandler(reg, c, authn, logger, st, set, temporalUI, "", serve.QueryConfig{Scratch: filepath.Join(dataDir, "query")})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s for the approvals API (change --api, or --api= to skip it): %w", addr, err)
	}
	go func() {
		if err := serveAPI(ctx, ln, h); err != nil {
			fmt.Fprintln(stderr, "meshflow dev: approvals API:", err)
		}
	}()
	// The CLI's --as reads the dev tokens from here; the file goes with dev.
	sessionFile := filepath.Join(dataDir, devSessionFile)
	b, err := json.Marshal(devSession{URL: "http://" + ln.Addr().String(), Tokens: tokens})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(sessionFile, b, 0o600); err != nil {
		return "", fmt.Errorf("write the dev session for --as: %w", err)
	}
	if err := os.Chmod(sessionFile, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return "", err
	}
	context.AfterFunc(ctx, func() { _ = os.Remove(sessionFile) })
	names := slices.Sorted(maps.Keys(tokens))
	fmt.Fprintf(stdout, "\ncatalog and approvals inbox  http://%s/   (sign in with a dev token)\napprovals API                http://%s/api/v1\ndev tokens (in memory only, valid until meshflow dev stops):\n", ln.Addr(), ln.Addr())
	for _, n := range names {
		fmt.Fprintf(stdout, "  %-18s %s\n", n, tokens[n])
	}
	if ref, steward, ok := signOffHint(set); ok {
		if tok, ok := tokens[steward]; ok {
			return fmt.Sprintf("  MESHFLOW_TOKEN=%s go run ./cmd/meshflow approve %s --server http://%s\n", tok, ref, ln.Addr()), nil
		}
	}
	return fmt.Sprintf("  MESHFLOW_TOKEN=<a dev token above> go run ./cmd/meshflow approve <domain>/<product> --server http://%s\n", ln.Addr()), nil
}

// signOffHint returns a product of the mesh whose runs wait for sign-off (one
// whose every version needs it, else one whose breaking versions do), and a
// steward who may give it; ok is false when no product needs one.
func signOffHint(set *spec.Set) (ref, steward string, ok bool) {
	for _, mode := range []refresh.ApprovalMode{refresh.ApprovalAlways, refresh.ApprovalOnBreakingChange} {
		for _, p := range set.Order() {
			if p.Governance.Approval != mode {
				continue
			}
			if people := set.People(set.Stewards(p)); len(people) > 0 {
				return p.Ref(), people[0], true
			}
		}
	}
	return "", "", false
}
