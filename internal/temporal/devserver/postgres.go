package devserver

import (
	"fmt"
	"net"
	"strconv"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqlschema "go.temporal.io/server/schema/sqlite"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"
)

// PostgresConfig says where the server keeps its state when it runs on
// PostgreSQL instead of SQLite.
type PostgresConfig struct {
	// Host and Port locate the PostgreSQL server; they default to 127.0.0.1 and
	// 5432.
	Host string
	Port int
	// User and Password authenticate to it. The user must be allowed to create
	// the databases when they do not exist yet.
	User     string
	Password string
	// Database holds workflow state; it defaults to "temporal".
	// VisibilityDatabase holds the visibility records; it defaults to Database
	// followed by "_visibility".
	Database           string
	VisibilityDatabase string
}

// Paths of Temporal's embedded PostgreSQL schemas (go.temporal.io/server/schema).
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

func (pg PostgresConfig) withDefaults() PostgresConfig {
	if pg.Host == "" {
		pg.Host = DefaultHost
	}
	if pg.Port == 0 {
		pg.Port = 5432
	}
	if pg.Database == "" {
		pg.Database = "temporal"
	}
	if pg.VisibilityDatabase == "" {
		pg.VisibilityDatabase = pg.Database + "_visibility"
	}
	return pg
}

func (pg PostgresConfig) sql(database string) *config.SQL {
	return &config.SQL{
		PluginName:      postgresplugin.PluginName,
		DatabaseName:    database,
		ConnectAddr:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
		ConnectProtocol: "tcp",
		User:            pg.User,
		Password:        pg.Password,
		MaxConns:        20,
		MaxIdleConns:    20,
	}
}

// openPostgres creates the databases when missing, brings their schemas to the
// versions this server needs with Temporal's own schema tool, registers the
// namespace when it does not exist and returns the store and visibility
// configurations.
func openPostgres(cfg Config) (store, visibility *config.SQL, err error) {
	pg := cfg.Postgres.withDefaults()
	store, visibility = pg.sql(pg.Database), pg.sql(pg.VisibilityDatabase)
	for _, db := range []struct {
		sql    *config.SQL
		schema string
	}{{store, postgresSchema}, {visibility, postgresVisibilitySchema}} {
		if err := setupPostgresSchema(pg, db.sql, db.schema); err != nil {
			return nil, nil, err
		}
	}

	// Registering the namespace in the database before the server starts works
	// for any SQL store: the helper is in the SQLite package but uses only the
	// generic SQL persistence layer.
	ns, err := sqlschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(DefaultRetention)
	if err := sqlschema.CreateNamespaces(store, ns); err != nil {
		return nil, nil, fmt.Errorf("register namespace %s: %w", cfg.Namespace, err)
	}
	return store, visibility, nil
}

// setupPostgresSchema creates the database of sql when missing, then runs the
// equivalent of `temporal-sql-tool setup-schema -v 0.0` and `update-schema
// --schema-name <schema>`: a new database gets every versioned schema step, an
// older one the steps it lacks, an up-to-date one nothing.
func setupPostgresSchema(pg PostgresConfig, sql *config.SQL, schema string) error {
	logger := log.NewNoopLogger()
	conn, err := sqltool.NewConnection(sql, logger)
	if err != nil || conn.Exec("SELECT 1") != nil {
		// The database is missing (or unreachable): create it, which needs the
		// CREATEDB privilege, and connect again.
		if conn != nil {
			conn.Close()
		}
		admin := *sql
		if cerr := sqltool.DoCreateDatabase(&admin, "postgres", logger); cerr != nil {
			return fmt.Errorf("create database %s on %s:%d: %w", sql.DatabaseName, pg.Host, pg.Port, cerr)
		}
		if conn, err = sqltool.NewConnection(sql, logger); err != nil {
			return fmt.Errorf("connect to database %s: %w", sql.DatabaseName, err)
		}
	}
	defer conn.Close()
	if err := schematool.NewSetupSchemaTask(conn, &schematool.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return fmt.Errorf("set up schema version tables in %s: %w", sql.DatabaseName, err)
	}
	if err := schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{SchemaName: schema}, logger).Run(); err != nil {
		return fmt.Errorf("update schema of %s to %s: %w", sql.DatabaseName, schema, err)
	}
	return nil
}
