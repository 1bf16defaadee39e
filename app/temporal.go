package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-cd/sluice/devserver"
)

// TemporalServices is how `sluice temporal` runs some of a Temporal
// cluster's services in this process: the embedded server's code, split
// across processes and machines (frontend, history, matching, worker),
// over one PostgreSQL database.
type TemporalServices struct {
	Services []string
	Host     string
	// FrontendPort and ServicePorts ("history=7234,matching=7235,
	// worker=7236", or SERVICE=HOST:PORT where the service's process is on
	// another machine; frontend=HOST:PORT too) must be the same in every
	// process of the cluster, and so must HistoryShards.
	FrontendPort  int
	ServicePorts  []string
	HistoryShards int
	// Postgres is a postgres:// URL (password in SLUICE_TEMPORAL_DB_PASSWORD).
	Postgres  string
	Namespace string
	Retention time.Duration
	LogLevel  slog.Level
}

// StartTemporalServices starts the services; Stop the server to end them.
func StartTemporalServices(t TemporalServices, log *slog.Logger) (*devserver.Server, error) {
	if t.Postgres == "" {
		return nil, fmt.Errorf("--temporal-db: the services of a cluster share a PostgreSQL database; name it (postgres://USER@HOST:PORT/DATABASE)")
	}
	pg, err := devserver.ParsePostgresURL(t.Postgres, os.Getenv("SLUICE_TEMPORAL_DB_PASSWORD"))
	if err != nil {
		return nil, err
	}
	ports, hosts := map[string]int{}, map[string]string{}
	for _, kv := range t.ServicePorts {
		name, addr, ok := strings.Cut(kv, "=")
		host, port := "", addr
		if h, p, err := net.SplitHostPort(addr); err == nil {
			host, port = h, p
		}
		p, err := strconv.Atoi(port)
		if !ok || err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("--service-ports %q: write SERVICE=PORT or SERVICE=HOST:PORT (history=7234)", kv)
		}
		if name == "frontend" {
			t.FrontendPort = p
		} else {
			ports[name] = p
		}
		if host != "" {
			hosts[name] = host
		}
	}
	if t.HistoryShards < 1 || t.HistoryShards > 16384 {
		return nil, fmt.Errorf("--history-shards %d: from 1 to 16384, the same for the life of the database", t.HistoryShards)
	}
	return devserver.Start(devserver.Options{
		IP: t.Host, FrontendPort: t.FrontendPort, UIPort: -1, Postgres: pg, Namespace: t.Namespace, Retention: t.Retention,
		Services: t.Services, ServicePorts: ports, ServiceHosts: hosts, HistoryShards: int32(t.HistoryShards), Logger: log, LogLevel: t.LogLevel,
	})
}
