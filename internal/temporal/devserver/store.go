package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// memoryDBs numbers the in-memory databases of this process. The SQLite plugin
// shares connections between databases of the same name for the life of the
// process, so every in-memory server needs a name of its own.
var memoryDBs atomic.Int64

// openStore returns the SQLite configuration for cfg. A database file is created,
// and its schema set up, only when DataDir holds none yet; the namespace is
// registered when it does not exist.
func openStore(cfg Config) (*config.SQL, error) {
	sql := &config.SQL{PluginName: sqliteplugin.PluginName}
	if cfg.DataDir == "" {
		sql.DatabaseName = "meshflow-devserver-" + strconv.FormatInt(memoryDBs.Add(1), 10)
		sql.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		path, err := databaseFile(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		sql.DatabaseName = path
		sql.ConnectAttributes = map[string]string{"mode": "rwc"}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(DefaultRetention)
	if err := sqliteschema.CreateNamespaces(sql, ns); err != nil {
		return nil, fmt.Errorf("register namespace %s: %w", cfg.Namespace, err)
	}
	return sql, nil
}

// databaseFile returns the absolute path of the SQLite file in dir, creating dir
// and setting up the schema when the file does not exist yet.
func databaseFile(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, dbFileName)
	// The plugin builds an SQLite URI from the path without escaping it.
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("data directory %s: the path must not contain ? or #", dir)
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("check database %s: %w", path, err)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// Set the schema up under a temporary name and rename the file when it is
	// complete, so that a setup cut short is redone at the next start instead of
	// leaving a half-made database behind.
	tmp := path + ".setup"
	if err := removeIfExists(tmp); err != nil {
		return "", err
	}
	setup := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      tmp,
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
	if err := sqliteschema.SetupSchema(setup); err != nil {
		return "", fmt.Errorf("set up database schema in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("move new database into place: %w", err)
	}
	return path, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
