// Package devserver runs a complete Temporal server (frontend, history,
// matching and worker services) and the Temporal Web UI inside the sluice
// process, persisted in a SQLite file. It is what `sluice dev` and the
// integration tests use; production deployments point Sluice at a Temporal
// cluster instead.
package devserver

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiapi "github.com/temporalio/ui-server/v2/server/api"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configures an embedded server. Zero ports are chosen free on IP.
type Options struct {
	// IP to bind every listener on. Default 127.0.0.1.
	IP string
	// FrontendPort is the gRPC port clients and workers dial. Default 7233.
	FrontendPort int
	// UIPort serves the Temporal Web UI; -1 disables the UI. Default 8233.
	UIPort int
	// DatabaseFile is the SQLite file. Empty means in-memory (nothing survives a restart).
	DatabaseFile string
	// Postgres, when set, holds the server's state instead of SQLite.
	Postgres *Postgres
	// TLS, when set, makes the frontend speak TLS (mutual TLS with a
	// client CA).
	TLS *TLS
	// Auth, when set, turns on Temporal's authorization: a client without
	// a valid API key is refused.
	Auth *Auth
	// Namespace to create if missing. Default "default".
	Namespace string
	// Retention is how long the namespace keeps a closed run's history.
	// Default 24 h. Set when the namespace is made, and changed at a
	// later start.
	Retention time.Duration
	// ArchiveDir, when set, turns on history archival: a closed run's
	// history is written there (Temporal's filestore archiver) before its
	// retention ends, and reads of it go there after.
	ArchiveDir string
	// Logger receives the server's own logs at LogLevel and above. Default: discard.
	Logger   *slog.Logger
	LogLevel slog.Level

	// Services are the Temporal services this process runs, of frontend,
	// history, matching and worker; default all of them. A cluster of
	// several processes, each running some, needs PostgreSQL and the same
	// ServicePorts and HistoryShards in every process.
	Services []string
	// ServicePorts are the gRPC ports of history, matching and worker
	// (the frontend's is FrontendPort); default: free ports, one process.
	ServicePorts map[string]int
	// ServiceHosts are where each service's process is reached, when not
	// at IP (processes on several machines).
	ServiceHosts map[string]string
	// HistoryShards is how many shards the history is split into, fixed
	// for the life of the database. Default 1.
	HistoryShards int32
}

// AllServices are the services of a Temporal cluster.
var AllServices = []string{"frontend", "history", "matching", "worker"}

// hostOf is where service is reached.
func (o Options) hostOf(service string) string {
	if h := o.ServiceHosts[service]; h != "" {
		return h
	}
	return o.IP
}

// runs tells whether this process runs service.
func (o Options) runs(service string) bool {
	return len(o.Services) == 0 || slices.Contains(o.Services, service)
}

// retention is the namespace's retention: Retention or Temporal's default.
func (o Options) retention() time.Duration {
	if o.Retention > 0 {
		return o.Retention
	}
	return defaultRetention
}

// TLS is the frontend's certificate. With ClientCAFile, clients must
// present a certificate that CA signed (mutual TLS). The server's own system
// worker presents CertFile, which must therefore also be valid for client
// authentication, and trusts RootCAFile (the CA that signed CertFile).
type TLS struct {
	CertFile, KeyFile string
	RootCAFile        string
	ClientCAFile      string
}

// internalFrontend is the service the system worker dials when
// authorization is on.
const internalFrontend = "internal-frontend"

// Server is a running embedded Temporal server. Stop it exactly once.
type Server struct {
	temporal temporal.Server
	ui       *uiserver.Server
	// Address is the frontend's host:port for clients and workers.
	Address string
	// UIAddress is the Web UI's base URL, empty when the UI is disabled.
	UIAddress string
	// Namespace is the namespace that was created.
	Namespace string
	// picked are the ports Start chose; Stop gives them back.
	picked []int
	// ports are every TCP port the server and its UI listen on.
	ports []int
}

// Ports are the TCP ports the server listens on: the frontend, its HTTP
// port, Temporal's internal services and the Web UI. None of them is for
// a build step (executor.Wall).
func (s *Server) Ports() []int { return slices.Clone(s.ports) }

// Start builds and starts the server and returns once the frontend accepts
// connections.
func Start(o Options) (*Server, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
		o.LogLevel = slog.LevelError
	}
	var err error
	if o.FrontendPort == 0 {
		o.FrontendPort = 7233
	}
	for _, svc := range o.Services {
		if !slices.Contains(AllServices, svc) {
			return nil, fmt.Errorf("temporal service %q: one of %s", svc, strings.Join(AllServices, ", "))
		}
	}
	if len(o.Services) > 0 && len(o.Services) < len(AllServices) {
		if o.Postgres == nil {
			return nil, fmt.Errorf("temporal services in several processes share their state: give them a PostgreSQL database")
		}
		if o.Auth != nil {
			return nil, fmt.Errorf("temporal services in several processes: the API-key authorizer runs only in one process")
		}
		for _, svc := range AllServices[1:] {
			if o.ServicePorts[svc] == 0 {
				return nil, fmt.Errorf("temporal services in several processes: give every process the same port of %s", svc)
			}
		}
	}
	// ports Start picks are reserved (see freePort) until Stop or a failed Start
	var picked []int
	ok := false
	defer func() {
		if !ok {
			release(picked...)
		}
	}()
	httpPort, err := freePort(o.IP)
	if err != nil {
		return nil, err
	}
	picked = append(picked, httpPort)
	logger := slogLogger{log: o.Logger, level: o.LogLevel}
	stores, err := persistence(o, logger)
	if err != nil {
		return nil, err
	}
	conf, err := serverConfig(o, httpPort, stores)
	if err != nil {
		return nil, err
	}
	for name, svc := range conf.Services {
		if name != "frontend" && o.ServicePorts[name] == 0 {
			picked = append(picked, svc.RPC.GRPCPort)
		}
	}
	claimMapper := authorization.NewNoopClaimMapper()
	if o.Auth != nil {
		if claimMapper, err = authorize(conf, o.Auth, o.IP, logger); err != nil {
			return nil, fmt.Errorf("temporal authorization: %w", err)
		}
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.Hosts{All: []string{net.JoinHostPort(o.hostOf(name), strconv.Itoa(svc.RPC.GRPCPort))}}
		if o.runs(name) {
			hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(o.hostOf(name), strconv.Itoa(svc.RPC.GRPCPort)))
		}
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// One partition per task queue: a single node gains nothing from
		// more, and a task that lands on a partition without a waiting
		// poller is delayed until it is forwarded.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// The history service reads a shard's transfer queue (which hands
		// every new workflow and activity task to matching) at most this
		// often per second; the default, 20, made each task of a run wait
		// ~50 ms for its turn once the reader's burst was spent. One shard
		// on one node has no one to protect from a faster reader.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 10000,
		// Temporal spreads the deletion of closed runs over up to 30
		// minutes past their retention; a short retention gets a
		// proportionate spread.
		dynamicconfig.RetentionTimerJitterDuration.Key(): min(30*time.Minute, o.retention()/10),
	}
	var services []string
	for _, svc := range temporal.DefaultServices {
		if o.runs(svc) {
			services = append(services, svc)
		}
	}
	if _, ok := conf.Services[internalFrontend]; ok {
		services = append(services, internalFrontend)
	}
	ts, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(services),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := ts.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server on %s:%d: %w", o.IP, o.FrontendPort, err)
	}
	s := &Server{temporal: ts, Address: net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort)), Namespace: o.Namespace, picked: picked,
		ports: append([]int{o.FrontendPort}, picked...)}
	if o.UIPort >= 0 && o.runs("frontend") {
		if o.UIPort == 0 {
			o.UIPort = 8233
		}
		uiConf := &uiconfig.Config{
			Host:                o.IP,
			Port:                o.UIPort,
			TemporalGRPCAddress: s.Address,
			EnableUI:            true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
		}
		if o.TLS != nil {
			uiConf.TLS = uiconfig.TLS{CaFile: o.TLS.RootCAFile, EnableHostVerification: true, ServerName: o.IP}
		}
		uiOpts := []uiserveroptions.ServerOption{uiserveroptions.WithConfigProvider(uiConf)}
		if o.Auth != nil && o.Auth.UIToken != nil {
			uiOpts = append(uiOpts, uiserveroptions.WithAPIMiddleware([]uiapi.Middleware{bearer(o.Auth.UIToken)}))
		}
		s.ui = uiserver.NewServer(uiOpts...)
		ln, err := net.Listen("tcp", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)))
		if err != nil {
			_ = ts.Stop()
			return nil, fmt.Errorf("temporal UI port %d: %w (choose another with --ui-port)", o.UIPort, err)
		}
		ln.Close() // the UI server binds itself; this only turns a busy port into a clear error
		go func() {
			if err := s.ui.Start(); err != nil {
				o.Logger.Error("temporal UI stopped", "error", err)
			}
		}()
		s.UIAddress = fmt.Sprintf("http://%s", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)))
		s.ports = append(s.ports, o.UIPort)
	}
	ok = true
	return s, nil
}

// Stop stops the UI and the server.
func (s *Server) Stop() {
	if s.ui != nil {
		s.ui.Stop()
	}
	_ = s.temporal.Stop()
	release(s.picked...)
}

// persistence prepares the server's databases and returns its stores:
// "default" (executions) and "visibility" (the run list).
func persistence(o Options, logger log.Logger) (map[string]config.DataStore, error) {
	if o.Postgres == nil {
		conf, err := sqlConfig(o)
		if err != nil {
			return nil, err
		}
		return map[string]config.DataStore{"default": {SQL: conf}, "visibility": {SQL: conf}}, nil
	}
	store, visibility, err := o.Postgres.prepare(logger)
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(store, o); err != nil {
		return nil, err
	}
	return map[string]config.DataStore{"default": {SQL: store}, "visibility": {SQL: visibility}}, nil
}

func sqlConfig(o Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DatabaseFile == "" {
		// shared-cache memory databases are per process, by name
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = fmt.Sprintf("sluice-%016x", rand.Uint64())
	} else {
		// every attribute but a URI parameter is a pragma of exactly its name
		conf.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "busy_timeout": "10000"}
		conf.DatabaseName = o.DatabaseFile
		if _, err := os.Stat(o.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(o.DatabaseFile), 0o700); err != nil {
				return nil, fmt.Errorf("create data dir: %w", err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				return nil, fmt.Errorf("set up sqlite schema in %s: %w", o.DatabaseFile, err)
			}
		}
		// run history holds inputs and results: for the server's user only
		if err := os.Chmod(o.DatabaseFile, 0o600); err != nil {
			return nil, fmt.Errorf("protect %s: %w", o.DatabaseFile, err)
		}
	}
	// (The SQLite plugin creates the schema of an in-memory database itself.)
	return conf, ensureNamespace(conf, o)
}

func serverConfig(o Options, httpPort int, stores map[string]config.DataStore) (*config.Config, error) {
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30e9
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "default"
	conf.Persistence.VisibilityStore = "visibility"
	conf.Persistence.NumHistoryShards = max(1, o.HistoryShards)
	conf.Persistence.DataStores = stores
	frontend := net.JoinHostPort(o.hostOf("frontend"), strconv.Itoa(o.FrontendPort))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
				ClusterID:              "sluice-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	names := []string{"frontend", "history", "matching", "worker"}
	if o.Auth != nil {
		// The system worker's door: Temporal admits whoever reaches it as
		// the system, so it takes only the internode certificate.
		names = append(names, internalFrontend)
	}
	for _, name := range names {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = o.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else if p := o.ServicePorts[name]; p != 0 {
			svc.RPC.GRPCPort = p
		} else {
			p, err := freePort(o.IP)
			if err != nil {
				return nil, err
			}
			svc.RPC.GRPCPort = p
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	if o.ArchiveDir != "" {
		conf.Archival.History = config.HistoryArchival{State: "enabled", EnableRead: true,
			Provider: &config.HistoryArchiverProvider{Filestore: &config.FilestoreArchiver{FileMode: "0600", DirMode: "0700"}}}
		conf.NamespaceDefaults.Archival.History = config.HistoryArchivalNamespaceDefaults{State: "enabled", URI: archiveURI(o.ArchiveDir)}
	}
	if o.Auth == nil {
		// (with an internal frontend, the system worker finds it by membership)
		conf.PublicClient.HostPort = frontend
	}
	if t := o.TLS; t != nil {
		conf.Global.TLS.Frontend.Server = config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile}
		if t.ClientCAFile != "" {
			conf.Global.TLS.Frontend.Server.ClientCAFiles = []string{t.ClientCAFile}
			conf.Global.TLS.Frontend.Server.RequireClientAuth = true
		}
		// the server's own system worker dials the frontend like any client
		conf.Global.TLS.SystemWorker = config.WorkerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile,
			Client: config.ClientTLS{ServerName: o.IP, ForceTLS: true}}
		if t.RootCAFile != "" { // else the system's CAs
			conf.Global.TLS.SystemWorker.Client.RootCAFiles = []string{t.RootCAFile}
		}
	}
	return &conf, nil
}
