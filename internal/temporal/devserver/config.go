package devserver

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/meshflow/meshflow/internal/refresh"
	"github.com/meshflow/meshflow/internal/temporal/devproc"
)

// Defaults for Config. Host and Namespace fall back to them when left empty; the
// ports are the defaults for command-line flags, since a zero port in Config means
// "pick a free port".
const (
	DefaultHost         = devproc.DefaultHost
	DefaultFrontendPort = devproc.DefaultFrontendPort
	DefaultUIPort       = devproc.DefaultUIPort
	DefaultNamespace    = devproc.DefaultNamespace
	// DefaultRetention is how long closed workflows of the namespace are kept.
	DefaultRetention = 72 * time.Hour
)

// dbFileName is the name of the SQLite file inside Config.DataDir.
const dbFileName = "temporal.db"

// Config says where and how the embedded server runs. The zero value runs an
// in-memory server and its Web UI on free ports of 127.0.0.1.
type Config struct {
	// DataDir is the directory that holds the SQLite file (DataDir/temporal.db), so
	// that namespaces and workflow histories survive a restart. It is created when
	// missing. An empty DataDir keeps all state in memory, which suits tests.
	DataDir string
	// Host is the address the frontend and the UI listen on; it defaults to
	// 127.0.0.1.
	Host string
	// FrontendPort is the gRPC port of the Temporal frontend (DefaultFrontendPort
	// for `meshflow dev`); 0 picks a free port.
	FrontendPort int
	// UIPort is the HTTP port of the Web UI (DefaultUIPort for `meshflow dev`); 0
	// picks a free port and NoUI runs without the UI.
	UIPort int
	// Namespace is registered at start if it does not exist yet; it defaults to
	// "default".
	Namespace string
	// SearchAttributes are custom search attributes registered on the namespace at
	// start. Registering an attribute that already exists with the same type is a
	// no-op; an existing attribute of a different type is an error.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Postgres, when set, keeps the server's state in PostgreSQL instead of
	// SQLite; DataDir must then be empty. The databases are created and their
	// schemas set up or updated at start.
	Postgres *PostgresConfig
	// Logger receives the server's logs at warning level and above. Nil logs to
	// standard error.
	Logger *slog.Logger
}

// NoUI as Config.UIPort runs the server without the Web UI.
const NoUI = devproc.NoUI

// MeshSearchAttributes returns the search attributes meshflow's workflows set
// (refresh.SearchAttributes, all of type Keyword), as Config.SearchAttributes
// takes them. Each call returns a new map, which the caller may change.
func MeshSearchAttributes() map[string]enumspb.IndexedValueType {
	attrs := make(map[string]enumspb.IndexedValueType, len(refresh.SearchAttributes))
	for _, a := range refresh.SearchAttributes {
		attrs[a] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}

// withDefaults returns cfg with empty fields set to their defaults, or an error
// naming the first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Postgres != nil && cfg.DataDir != "" {
		return cfg, fmt.Errorf("data directory %s and PostgreSQL: choose one", cfg.DataDir)
	}
	if net.ParseIP(cfg.Host) == nil {
		return cfg, fmt.Errorf("host %q: not an IP address", cfg.Host)
	}
	if cfg.FrontendPort < 0 || cfg.FrontendPort > 65535 {
		return cfg, fmt.Errorf("frontend port %d: want 0 (pick a free port) to 65535", cfg.FrontendPort)
	}
	if cfg.UIPort < NoUI || cfg.UIPort > 65535 {
		return cfg, fmt.Errorf("UI port %d: want -1 (no UI), 0 (pick a free port) to 65535", cfg.UIPort)
	}
	if cfg.UIPort != 0 && cfg.UIPort == cfg.FrontendPort {
		return cfg, fmt.Errorf("UI port and frontend port are both %d", cfg.UIPort)
	}
	for name, typ := range cfg.SearchAttributes {
		if name == "" {
			return cfg, fmt.Errorf("search attribute with an empty name")
		}
		if _, ok := enumspb.IndexedValueType_name[int32(typ)]; !ok || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return cfg, fmt.Errorf("search attribute %s: invalid type %d", name, typ)
		}
	}
	return cfg, nil
}
