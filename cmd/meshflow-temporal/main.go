// Command meshflow-temporal runs a real Temporal server, with its Web UI, as a
// process of its own: on SQLite for `meshflow dev` (which starts it), or on
// PostgreSQL for setups where the server, the workers and `meshflow serve` are
// separate processes (scripts/multiprocess.sh). It registers the namespace and
// the search attributes meshflow's workflows set.
//
// It is a binary apart from meshflow so that meshflow's other commands do not
// load the server (see internal/temporal/devproc).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshflow/meshflow/internal/temporal/devproc"
	"github.com/meshflow/meshflow/internal/temporal/devserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, devproc.Binary+":", err)
		}
		stop()
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(devproc.Binary, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "folder for the server's SQLite state; empty keeps it in memory (ignored with --postgres-host)")
	pgHost := fs.String("postgres-host", "", "PostgreSQL host: keep the state in PostgreSQL instead of SQLite")
	pgPort := fs.Int("postgres-port", 5432, "PostgreSQL port")
	pgUser := fs.String("postgres-user", "temporal", "PostgreSQL user; it must be allowed to create the databases if they are missing")
	pgPasswordEnv := fs.String("postgres-password-env", "", "environment variable holding the PostgreSQL password (empty: no password)")
	pgDB := fs.String("postgres-db", "temporal", "database for workflow state; visibility goes to <db>_visibility")
	pgVisDB := fs.String("postgres-visibility-db", "", "database for visibility records (default <postgres-db>_visibility)")
	host := fs.String("host", devproc.DefaultHost, "address to listen on")
	frontendPort := fs.Int("frontend-port", devproc.DefaultFrontendPort, "Temporal frontend gRPC port")
	uiPort := fs.Int("ui-port", devproc.DefaultUIPort, "Temporal Web UI port; -1 for no UI")
	namespace := fs.String("namespace", devproc.DefaultNamespace, "namespace to register at start")
	supervised := fs.Bool("supervised", false, "run under meshflow dev: report readiness on file descriptor 3 and stop when standard input closes")
	verbose := fs.Bool("v", false, "log more")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\nRuns a Temporal server (all services, with its Web UI) until interrupted, on SQLite or on\nPostgreSQL, whose databases are created and whose schemas are set up or updated at start.\n", devproc.Binary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; see -h", fs.Args())
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg := devserver.Config{
		DataDir: *dataDir, Host: *host, FrontendPort: *frontendPort, UIPort: *uiPort, Namespace: *namespace,
		SearchAttributes: devserver.MeshSearchAttributes(),
		Logger:           slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	where := "SQLite in " + *dataDir
	if *dataDir == "" {
		where = "memory"
	}
	if *pgHost != "" {
		password := ""
		if *pgPasswordEnv != "" {
			v, ok := os.LookupEnv(*pgPasswordEnv)
			if !ok {
				return fmt.Errorf("--postgres-password-env: %s is not set", *pgPasswordEnv)
			}
			password = v
		}
		cfg.DataDir = ""
		cfg.Postgres = &devserver.PostgresConfig{
			Host: *pgHost, Port: *pgPort, User: *pgUser, Password: password,
			Database: *pgDB, VisibilityDatabase: *pgVisDB,
		}
		where = fmt.Sprintf("PostgreSQL %s:%d/%s", *pgHost, *pgPort, *pgDB)
	}

	var ready *os.File
	if *supervised {
		f, err := devproc.ReadyWriter()
		if err != nil {
			return err
		}
		ready = f
		// Ctrl-C in meshflow dev's terminal reaches this process too; meshflow dev
		// stops its workers first and then closes standard input.
		signal.Ignore(os.Interrupt)
		// Standard input closes when meshflow dev stops or dies: stop too.
		stdinCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			io.Copy(io.Discard, stdin)
			cancel()
		}()
		ctx = stdinCtx
	}
	srv, err := devserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		b, err := json.Marshal(devproc.Ready{Frontend: srv.FrontendAddress(), UI: srv.UIAddress(), Namespace: srv.Namespace()})
		if err == nil {
			_, err = ready.Write(append(b, '\n'))
		}
		ready.Close()
		if err != nil {
			return errors.Join(fmt.Errorf("report readiness: %w", err), srv.Stop())
		}
	} else {
		fmt.Fprintf(stdout, "Temporal frontend %s (namespace %s) on %s", srv.FrontendAddress(), srv.Namespace(), where)
		if ui := srv.UIAddress(); ui != "" {
			fmt.Fprintf(stdout, ", Web UI %s", ui)
		}
		fmt.Fprintln(stdout, ". Ctrl-C stops it.")
	}
	<-ctx.Done()
	if ready == nil {
		fmt.Fprintln(stdout, "stopping Temporal …")
	}
	return srv.Stop()
}
