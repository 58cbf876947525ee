//go:build !nodev

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/meshflow/meshflow/internal/temporal/devserver"
)

// runTemporalServer runs the embedded Temporal server on PostgreSQL as a process
// of its own, for setups where the server, the workers and `meshflow serve` are
// separate processes (scripts/multiprocess.sh).
func runTemporalServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("temporal-server", stderr)
	pgHost := fs.String("postgres-host", "127.0.0.1", "PostgreSQL host")
	pgPort := fs.Int("postgres-port", 5432, "PostgreSQL port")
	pgUser := fs.String("postgres-user", "temporal", "PostgreSQL user; it must be allowed to create the databases if they are missing")
	pgPasswordEnv := fs.String("postgres-password-env", "", "environment variable holding the PostgreSQL password (empty: no password)")
	pgDB := fs.String("postgres-db", "temporal", "database for workflow state; visibility goes to <db>_visibility")
	pgVisDB := fs.String("postgres-visibility-db", "", "database for visibility records (default <postgres-db>_visibility)")
	host := fs.String("host", devserver.DefaultHost, "address to listen on")
	frontendPort := fs.Int("frontend-port", devserver.DefaultFrontendPort, "Temporal frontend gRPC port")
	uiPort := fs.Int("ui-port", devserver.DefaultUIPort, "Temporal Web UI port; -1 for no UI")
	namespace := fs.String("namespace", devserver.DefaultNamespace, "namespace to register at start")
	verbose := fs.Bool("v", false, "log more")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: meshflow temporal-server [flags]\n\nRuns a Temporal server (all services, with its Web UI) on PostgreSQL until interrupted.\nThe databases are created and their schemas set up or updated with Temporal's schema tool at start.")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return flagError(err)
	}
	password := ""
	if *pgPasswordEnv != "" {
		v, ok := os.LookupEnv(*pgPasswordEnv)
		if !ok {
			return fmt.Errorf("--postgres-password-env: %s is not set", *pgPasswordEnv)
		}
		password = v
	}
	srv, err := devserver.Start(ctx, devserver.Config{
		Host: *host, FrontendPort: *frontendPort, UIPort: *uiPort, Namespace: *namespace,
		SearchAttributes: devserver.MeshSearchAttributes(), Logger: newLogger(stderr, *verbose),
		Postgres: &devserver.PostgresConfig{
			Host: *pgHost, Port: *pgPort, User: *pgUser, Password: password,
			Database: *pgDB, VisibilityDatabase: *pgVisDB,
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Temporal frontend %s (namespace %s) on PostgreSQL %s:%d/%s", srv.FrontendAddress(), srv.Namespace(), *pgHost, *pgPort, *pgDB)
	if ui := srv.UIAddress(); ui != "" {
		fmt.Fprintf(stdout, ", Web UI %s", ui)
	}
	fmt.Fprintln(stdout, ". Ctrl-C stops it.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping Temporal …")
	return srv.Stop()
}
