package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
)

// clusterName names the single cluster of the embedded server.
const clusterName = "active"

// pollRPS is how often a second the history service may read each of its
// task queues (see newTemporalServer).
const pollRPS = 2000

// internalHost is where the history, matching and worker services listen; only
// the frontend is reachable on Config.Host.
const internalHost = "127.0.0.1"

// Server is a running embedded Temporal server. Stop it with Stop.
type Server struct {
	frontendAddr string
	uiAddr       string
	namespace    string

	temporal temporal.Server
	logLevel *slog.LevelVar
	ui       *uiServer
	client   client.Client

	stopOnce sync.Once
	stopErr  error
}

// Start starts a Temporal server as cfg describes and returns when the namespace
// and its search attributes are registered and the frontend answers. Ports are
// checked before anything starts: a port in use gives a *PortInUseError. The
// context bounds the wait for the frontend and the registration of search
// attributes; the server runs until Stop.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("devserver config: %w", err)
	}

	// Open the public listeners first so that a busy port is reported before
	// anything else happens. The UI keeps its listener; the frontend's is handed
	// over to the server, which opens its own.
	frontendLn, err := listen(cfg.Host, cfg.FrontendPort, "--temporal-port")
	if err != nil {
		return nil, err
	}
	frontendPort := frontendLn.Addr().(*net.TCPAddr).Port
	var uiLn net.Listener
	if cfg.UIPort != NoUI {
		uiLn, err = listen(cfg.Host, cfg.UIPort, "--ui-port")
		if err != nil {
			return nil, errors.Join(err, frontendLn.Close())
		}
	}
	// closeUI releases the UI port when Start fails before the UI serves.
	closeUI := func(err error) error {
		if uiLn != nil {
			err = errors.Join(err, uiLn.Close())
		}
		return err
	}

	s := &Server{
		frontendAddr: net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(frontendPort)),
		namespace:    cfg.Namespace,
	}
	s.logLevel = new(slog.LevelVar)
	s.logLevel.Set(serverLogLevel)
	s.temporal, err = newTemporalServer(cfg, frontendLn, s.frontendAddr, s.logLevel)
	if err != nil {
		return nil, closeUI(err)
	}
	if err := s.temporal.Start(); err != nil {
		return nil, closeUI(errors.Join(fmt.Errorf("start Temporal server: %w", err), s.temporal.Stop()))
	}
	if err := s.ready(ctx, cfg); err != nil {
		return nil, closeUI(errors.Join(err, s.Stop()))
	}
	if uiLn != nil {
		s.ui, err = startUI(uiLn, s.frontendAddr, cfg.Namespace)
		if err != nil {
			return nil, closeUI(errors.Join(err, s.Stop()))
		}
		uiPort := uiLn.Addr().(*net.TCPAddr).Port
		s.uiAddr = "http://" + net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(uiPort))
	}
	return s, nil
}

// newTemporalServer builds the server: all four services in this process, found
// through static host lists, persisting to SQLite or PostgreSQL. It closes frontendLn, whose
// port the frontend takes over while the server is built.
func newTemporalServer(cfg Config, frontendLn net.Listener, frontendAddr string, logLevel *slog.LevelVar) (temporal.Server, error) {
	frontendPort := frontendLn.Addr().(*net.TCPAddr).Port
	closeLn := func(err error) error { return errors.Join(err, frontendLn.Close()) }

	// SQLite keeps workflow state and visibility in one database; PostgreSQL in
	// two.
	store, visibilityStore := "sqlite-default", "sqlite-default"
	var dataStores map[string]config.DataStore
	if cfg.Postgres != nil {
		sql, visibility, err := openPostgres(cfg)
		if err != nil {
			return nil, closeLn(err)
		}
		store, visibilityStore = "postgres-default", "postgres-visibility"
		dataStores = map[string]config.DataStore{store: {SQL: sql}, visibilityStore: {SQL: visibility}}
	} else {
		sql, err := openStore(cfg)
		if err != nil {
			return nil, closeLn(err)
		}
		dataStores = map[string]config.DataStore{store: {SQL: sql}}
	}
	// The frontend's HTTP API, which Nexus needs, listens next to its gRPC port.
	httpPort, err := freePort(cfg.Host)
	if err != nil {
		return nil, closeLn(fmt.Errorf("port for the frontend HTTP API: %w", err))
	}
	services := map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: frontendPort, HTTPPort: httpPort, BindOnIP: cfg.Host}},
	}
	hosts := map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: static.SingleLocalHost(frontendAddr),
	}
	for _, name := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		port, err := freePort(internalHost)
		if err != nil {
			return nil, closeLn(fmt.Errorf("port for the %s service: %w", name, err))
		}
		services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: internalHost}}
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(internalHost, strconv.Itoa(port)))
	}

	conf := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: internalHost},
		},
		Persistence: config.Persistence{
			DefaultStore:     store,
			VisibilityStore:  visibilityStore,
			NumHistoryShards: 1,
			DataStores:       dataStores,
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             frontendAddr,
					HTTPAddress:            net.JoinHostPort(dialHost(cfg.Host), strconv.Itoa(httpPort)),
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The server's own worker service dials the frontend here.
		PublicClient: config.PublicClient{HostPort: frontendAddr},
	}

	dynamic := dynamicconfig.StaticClient{
		// Search attributes added while the server runs are usable at once.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// The Temporal CLI's dev server settings: a larger mutable-state cache and
		// enough visibility requests for the Web UI.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// History reads its queues of transfer, timer and visibility tasks at most
		// MaxPollRPS times a second per shard, 20 by default. The server has one
		// shard, so once the limiter's burst is spent every workflow and activity
		// task of every run waited up to 50 ms to be dispatched: about 40 ms a
		// step, a second per refresh. A single-machine server can afford to read
		// as soon as it is told of a new task.
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   pollRPS,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      pollRPS,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): pollRPS,
	}

	// The server opens its own listeners while it is built: hand the port over.
	if err := frontendLn.Close(); err != nil {
		return nil, fmt.Errorf("hand over frontend port %d: %w", frontendPort, err)
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newServerLogger(cfg.Logger, logLevel)),
		temporal.WithDynamicConfigClient(dynamic),
	)
	if err != nil {
		return nil, fmt.Errorf("create Temporal server: %w", err)
	}
	return srv, nil
}

// ready connects to the frontend, checks that the namespace is there and adds the
// search attributes it lacks.
func (s *Server) ready(ctx context.Context, cfg Config) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.frontendAddr,
		Namespace: cfg.Namespace,
		Logger:    slog.New(minLevelHandler{min: s.logLevel, h: cfg.Logger.Handler()}),
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal frontend at %s: %w", s.frontendAddr, err)
	}
	s.client = c

	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{
		Namespace: cfg.Namespace,
	}); err != nil {
		return fmt.Errorf("describe namespace %s: %w", cfg.Namespace, err)
	}
	return registerSearchAttributes(ctx, c.OperatorService(), cfg)
}

// registerSearchAttributes adds the configured search attributes the namespace
// lacks. A new namespace got them when it was created; this covers attributes
// added to the configuration of an existing data directory.
func registerSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, cfg Config) error {
	if len(cfg.SearchAttributes) == 0 {
		return nil
	}
	list, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", cfg.Namespace, err)
	}
	missing := make(map[string]enumspb.IndexedValueType)
	for name, want := range cfg.SearchAttributes {
		have, ok := list.GetCustomAttributes()[name]
		if !ok {
			have, ok = list.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = want
		case have != want:
			return fmt.Errorf("search attribute %s of namespace %s is a %s, want %s", name, cfg.Namespace, have, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        cfg.Namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("add search attributes to %s: %w", cfg.Namespace, err)
	}
	return nil
}

// FrontendAddress returns the host:port that Temporal clients and workers dial.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// UIAddress returns the base URL of the Web UI, such as http://127.0.0.1:8233,
// or "" when the server runs without the UI.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace returns the namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the Web UI and the server and releases their ports. Only the first
// call does the work; later calls return its result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		// While the services stop one after the other, those still running warn
		// about the ones already gone: only errors are worth showing now.
		s.logLevel.Set(slog.LevelError)
		var errs []error
		if s.ui != nil {
			errs = append(errs, s.ui.stop())
		}
		if s.client != nil {
			s.client.Close()
		}
		if err := s.temporal.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop Temporal server: %w", err))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
